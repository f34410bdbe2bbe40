"""The frame pool: frames to learn from, their labels (append-only; the last one counts), and the
labels a case review gives for free.

- :func:`add_frame` puts an image into the evidence store and the pool (one frame per image: the
  same image again is the same frame). Commits; a ledger entry ``frame_added``.
- :func:`set_labels` records a labeller's boxes after checking each against the model's classes and
  the frame's size (422 naming the box). The same labels again change nothing. Commits; a ledger
  entry ``frame_labelled``.
- :func:`add_stored_frame` adds an image already in the store (a package's file) in the caller's
  transaction.
- :func:`label_from_review` runs inside a case review's transaction (:func:`service.crud.cases.review_case`):
  confirming labels the raw stills of the case's packages with the hit's class at each still's box
  (``review_confirm``, not complete: other objects on the frame are unverified); dismissing as a
  false detection records those boxes as hard negatives (``review_dismiss``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nce.vocabulary import MODEL_CLASSES
from service import ledger
from service.errors import Conflict, Invalid, NotFound
from service.evidence_store import EvidenceStore
from service.image_header import ImageInfo, image_info
from service.models import Frame, FrameLabel, utcnow
from service.schemas.frames import (
    BoxIn,
    BoxPublic,
    DetectionPublic,
    FrameCreate,
    FrameDetail,
    FrameLabelPublic,
    FramePublic,
    LabelsIn,
)

log = logging.getLogger(__name__)

MAX_PAGE = 200
MIN_BOX_PX = 1.0  # a box narrower or lower than this is degenerate
HEADER_BYTES = 1 << 20  # where a stored image's size must be found (a JPEG's EXIF comes first)
MERGE_IOU = 0.5  # a review's box replaces a box of the same class overlapping it this much
_MAX_PROBLEMS = 5


# --- reading ----------------------------------------------------------------------------------


def get_frame(session: Session, *, frame_id: int) -> Frame:
    frame = session.get(Frame, frame_id)
    if frame is None:
        raise NotFound(f"frame {frame_id} not found")
    return frame


def latest_labels(session: Session, frame_ids: Sequence[int]) -> dict[int, FrameLabel]:
    """The latest label row of each frame that has one."""
    if not frame_ids:
        return {}
    newest = (
        select(func.max(FrameLabel.id))
        .where(FrameLabel.frame_id.in_(list(frame_ids)))
        .group_by(FrameLabel.frame_id)
    )
    rows = session.execute(select(FrameLabel).where(FrameLabel.id.in_(newest))).scalars()
    return {r.frame_id: r for r in rows}


def label_history(session: Session, *, frame_id: int) -> list[FrameLabel]:
    q = select(FrameLabel).where(FrameLabel.frame_id == frame_id).order_by(FrameLabel.id)
    return list(session.execute(q).scalars())


def _encode_cursor(frame_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"frames_before": frame_id}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["frames_before"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Invalid("cursor: not a cursor this service issued") from exc
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid("cursor: not a cursor this service issued")
    return value


def list_frames(
    session: Session, *, status: str | None, camera_id: str | None, cursor: str | None, limit: int
) -> tuple[list[Frame], str | None]:
    """Newest first (by id); the cursor is the last id of the previous page."""
    limit = max(1, min(limit, MAX_PAGE))
    q = select(Frame)
    if status:
        q = q.where(Frame.status == status)
    if camera_id:
        q = q.where(Frame.camera_id == camera_id)
    if cursor:
        q = q.where(Frame.id < _decode_cursor(cursor))
    rows = list(session.execute(q.order_by(Frame.id.desc()).limit(limit + 1)).scalars())
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def image_url(frame_id: int) -> str:
    return f"/api/v1/frames/{frame_id}/image"


def _boxes_public(boxes: Iterable[dict[str, Any]]) -> list[BoxPublic]:
    return [BoxPublic(label=b["label"], box=b["box"], negative=bool(b.get("negative"))) for b in boxes]


def _detections_public(detections: Iterable[dict[str, Any]]) -> list[DetectionPublic]:
    return [DetectionPublic(label=d["label"], score=d.get("score"), box=d["box"]) for d in detections]


def frame_public(frame: Frame, label: FrameLabel | None) -> FramePublic:
    return FramePublic(
        frame_id=frame.id,
        camera_id=frame.camera_id,
        source=frame.source,  # type: ignore[arg-type]
        reason=frame.reason,
        origin=frame.origin,
        sha256=frame.sha256,
        mime=frame.mime,
        width=frame.width,
        height=frame.height,
        detections=_detections_public(frame.detections),
        # an unlabelled frame has no labels (a reverted review's withdrawal leaves it so)
        labels=_boxes_public(label.boxes) if label is not None and frame.status != "unlabelled" else None,
        status=frame.status,  # type: ignore[arg-type]
        complete=label.complete if label is not None else None,
        labelled_how=label.how if label is not None else None,  # type: ignore[arg-type]
        labelled_by=label.labelled_by if label is not None else None,
        labelled_at=label.created_at if label is not None else None,
        case_id=frame.case_id,
        package_id=frame.package_id,
        taken_at=frame.taken_at,
        created_at=frame.created_at,
        image_url=image_url(frame.id),
    )


def frames_public(session: Session, frames: Sequence[Frame]) -> list[FramePublic]:
    latest = latest_labels(session, [f.id for f in frames])
    return [frame_public(f, latest.get(f.id)) for f in frames]


def frame_detail(session: Session, *, frame_id: int) -> FrameDetail:
    frame = get_frame(session, frame_id=frame_id)
    history = label_history(session, frame_id=frame_id)
    public = frame_public(frame, history[-1] if history else None)
    return FrameDetail(
        **public.model_dump(),
        history=[
            FrameLabelPublic(
                id=h.id,
                boxes=_boxes_public(h.boxes),
                complete=h.complete,
                how=h.how,  # type: ignore[arg-type]
                labelled_by=h.labelled_by,
                case_id=h.case_id,
                created_at=h.created_at,
            )
            for h in history
        ],
    )


# --- adding frames ----------------------------------------------------------------------------


def frame_by_sha256(session: Session, sha256: str) -> Frame | None:
    return session.execute(select(Frame).where(Frame.sha256 == sha256)).scalar_one_or_none()


def insert_frame(session: Session, *, sha256: str, info: ImageInfo, data: FrameCreate, actor: str) -> Frame:
    now = utcnow()
    frame = Frame(
        sha256=sha256,
        mime=info.mime,
        width=info.width,
        height=info.height,
        camera_id=data.camera_id,
        source=data.source,
        reason=data.reason,
        origin=data.origin,
        detections=[d.model_dump(mode="json") for d in data.detections],
        taken_at=data.taken_at or now,
        case_id=data.case_id,
        event_id=data.event_id,
        package_id=data.package_id,
        added_by=actor,
        status="unlabelled",
        created_at=now,
    )
    session.add(frame)
    session.flush()
    return frame


def add_frame(
    session: Session, *, store: EvidenceStore, image: bytes, data: FrameCreate, actor: str
) -> tuple[Frame, bool]:
    """Put ``image`` (JPEG or PNG) into the store and the pool; ``(frame, created)``. The same image
    again is the frame it already is (``created`` false); on another camera it is a conflict.
    Commits (also when nothing was created, to end the transaction)."""
    info = image_info(image, name="image")
    digest = store.put(image)  # before the transaction (idempotent; an orphan is swept later)
    try:
        ledger.lock_head(session)
        existing = frame_by_sha256(session, digest)
        if existing is not None:
            session.rollback()
            if existing.camera_id != data.camera_id:
                raise Conflict(
                    f"image: already in the pool as frame {existing.id} of camera {existing.camera_id}"
                )
            return existing, False
        frame = insert_frame(session, sha256=digest, info=info, data=data, actor=actor)
        ledger.append(
            session,
            actor=actor,
            action="frame_added",
            case_id=None,
            payload={
                "frame_id": frame.id,
                "sha256": digest,
                "camera_id": frame.camera_id,
                "source": frame.source,
                "pick_reason": frame.reason,
                "origin": frame.origin,
                "width": frame.width,
                "height": frame.height,
            },
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return frame, True


# --- labels -----------------------------------------------------------------------------------


def _num(v: float) -> str:
    return f"{v:g}"


def _box_problems(i: int, b: BoxIn, *, width: int, height: int) -> list[str]:
    where = f"boxes[{i}]"
    if b.label not in MODEL_CLASSES:
        return [f"{where}.label: {b.label!r} is not one of the model's classes ({', '.join(MODEL_CLASSES)})"]
    x1, y1, x2, y2 = b.box
    for name, v in zip(("x1", "y1", "x2", "y2"), b.box, strict=True):
        if not math.isfinite(v):
            return [f"{where}.box: {name} {v} is not a finite number"]
    for name, v, side, size in (("x1", x1, "width", width), ("y1", y1, "height", height),
                                ("x2", x2, "width", width), ("y2", y2, "height", height)):  # fmt: skip
        if v < 0:
            return [f"{where}.box: {name} {_num(v)} is outside the frame (below 0)"]
        if v > size:
            return [f"{where}.box: {name} {_num(v)} is outside the frame {side} {size}"]
    if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
        return [
            f"{where}.box: degenerate ({_num(x2 - x1)} x {_num(y2 - y1)} px; x2 must exceed x1 and y2 "
            f"exceed y1 by at least {_num(MIN_BOX_PX)} px)"
        ]
    return []


def normal_box(label: str, box: Sequence[float], negative: bool = False) -> dict[str, Any]:
    return {"label": label, "box": [round(float(v), 2) for v in box], "negative": negative}


def sorted_boxes(boxes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(boxes, key=lambda b: (bool(b["negative"]), b["label"], b["box"]))


def checked_boxes(boxes: Sequence[BoxIn], *, width: int, height: int) -> list[dict[str, Any]]:
    """The boxes in normal form (``{"label", "box", "negative"}``, 0.01 px, sorted), or Invalid
    naming each bad box (``boxes[2].box: x2 1930 is outside the frame width 1920``)."""
    problems: list[str] = []
    seen: dict[tuple[str, tuple[float, ...]], int] = {}
    out = []
    for i, b in enumerate(boxes):
        found = _box_problems(i, b, width=width, height=height)
        if not found:
            n = normal_box(b.label, b.box)
            key = (n["label"], tuple(n["box"]))
            if key in seen:
                found = [f"boxes[{i}]: the same as boxes[{seen[key]}]"]
            else:
                seen[key] = i
                out.append(n)
        problems += found
    if problems:
        more = f" (and {len(problems) - _MAX_PROBLEMS} more)" if len(problems) > _MAX_PROBLEMS else ""
        raise Invalid("; ".join(problems[:_MAX_PROBLEMS]) + more)
    return sorted_boxes(out)


def _status(complete: bool) -> str:
    return "labelled" if complete else "partial"


def write_label(
    session: Session,
    frame: Frame,
    *,
    boxes: list[dict[str, Any]],
    complete: bool,
    how: str,
    actor: str,
    case_id: int | None,
) -> FrameLabel:
    row = FrameLabel(
        frame_id=frame.id,
        boxes=boxes,
        complete=complete,
        how=how,
        labelled_by=actor,
        case_id=case_id,
        created_at=utcnow(),
    )
    session.add(row)
    frame.status = _status(complete)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        action="frame_labelled",
        case_id=None,  # the case (a review's) is in the payload: the entry is about the frame
        payload={
            "frame_id": frame.id,
            "sha256": frame.sha256,
            "label_id": row.id,
            "how": how,
            "complete": complete,
            "boxes": boxes,
            "case_id": case_id,
        },
    )
    return row


def set_labels(session: Session, *, frame_id: int, data: LabelsIn, actor: str) -> tuple[Frame, bool]:
    """A labeller's boxes for the frame; ``(frame, changed)``. The same boxes and completeness as the
    latest labelling by a labeller add nothing. Commits."""
    ledger.lock_head(session)
    frame = get_frame(session, frame_id=frame_id)
    boxes = checked_boxes(data.boxes, width=frame.width, height=frame.height)
    latest = latest_labels(session, [frame.id]).get(frame.id)
    if (
        latest is not None
        and latest.how == "label"
        and latest.complete == data.complete
        and sorted_boxes(latest.boxes) == boxes
    ):
        session.rollback()
        return frame, False
    write_label(session, frame, boxes=boxes, complete=data.complete, how="label", actor=actor, case_id=None)
    session.commit()
    return frame, True


# --- labels from reviews ----------------------------------------------------------------------
