"""Frames that come from packages already stored: the raw stills of a reviewed case (labelled by the
review, for free) and the frame of an edge's sample package. Both join the pool in the caller's
transaction, under the caller's ledger entry."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.vocabulary import MODEL_CLASSES
from service.crud import frames
from service.crud.frames import HEADER_BYTES, MERGE_IOU, MIN_BOX_PX, frame_by_sha256, latest_labels
from service.errors import NotFound, ServiceError
from service.evidence_store import EvidenceStore, StoreError
from service.image_header import image_info
from service.models import Case, EvidenceFile, Frame, HitEventRow
from service.schemas.frames import FrameCreate, FrameDetection

log = logging.getLogger(__name__)


@dataclass
class _Still:
    sha256: str
    event: HitEventRow
    frame_utc: str
    boxes: list[dict[str, Any]]
    detections: list[dict[str, Any]]


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with each box of ``new`` in place of the boxes of its class that it overlaps."""
    kept = [
        o
        for o in old
        if not any(o["label"] == n["label"] and _iou(o["box"], n["box"]) >= MERGE_IOU for n in new)
    ]
    merged: list[dict[str, Any]] = []
    for b in [*kept, *new]:
        if b not in merged:
            merged.append(b)
    return frames.sorted_boxes(merged)


def _stills_of_case(session: Session, case: Case) -> dict[str, _Still]:
    """The raw stills (by SHA-256) of the case's signed packages where the hit's object was seen."""
    events = list(
        session.execute(
            select(HitEventRow)
            .where(HitEventRow.case_id == case.id, HitEventRow.manifest_hash.is_not(None))
            .order_by(HitEventRow.id)
        ).scalars()
    )
    files: dict[tuple[int, str], str] = {}
    if events:
        rows = session.execute(
            select(EvidenceFile.event_id, EvidenceFile.name, EvidenceFile.sha256).where(
                EvidenceFile.event_id.in_([e.id for e in events])
            )
        )
        files = {(event_id, name): sha for event_id, name, sha in rows}
    stills: dict[str, _Still] = {}
    for e in events:
        m = e.manifest if isinstance(e.manifest, dict) else {}
        event = m.get("event") or {}
        label = event.get("label")
        if label not in MODEL_CLASSES:
            continue
        for s in m.get("stills") or []:
            sha = files.get((e.id, str(s.get("raw"))))
            box = s.get("box")
            if sha is None or not box:
                continue
            at_event = s.get("frame_utc") == event.get("ts")
            still = stills.setdefault(
                sha,
                _Still(
                    sha, e, str(s.get("frame_utc")), [], list(m.get("detections") or []) if at_event else []
                ),
            )
            still.boxes.append({"label": label, "box": list(box)})
    return stills


def _clipped(box: Sequence[float], width: int, height: int) -> list[float] | None:
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
        return None
    return [x1, y1, x2, y2]


def _parse_utc(text: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.astimezone(dt.UTC) if t.tzinfo is not None else None


def _detections(records: Iterable[Any]) -> list[FrameDetection]:
    """The model's detections of a stored, validated manifest, as the pool keeps them."""
    out = []
    for d in records:
        if isinstance(d, dict) and isinstance(d.get("label"), str) and isinstance(d.get("box"), list):
            out.append(
                FrameDetection.model_validate({"label": d["label"], "score": d.get("score"), "box": d["box"]})
            )
    return out


def add_stored_frame(
    session: Session, *, store: EvidenceStore, sha256: str, data: FrameCreate, actor: str
) -> Frame | None:
    """The frame of an image already in the evidence store (a package's file), added to the pool in
    the caller's transaction if it is not there yet (no commit, no ledger entry of its own: the
    caller's entry covers it). None when the image is not in the store or not a readable JPEG/PNG.
    Labels from reviews use it; so can the ingest of the edge's sample packages (``source: sample``)."""
    if frame_by_sha256(session, sha256) is None:
        try:  # the size is in the header: never read a whole still here
            head = store.read(sha256, 0, HEADER_BYTES - 1)
        except (NotFound, StoreError) as exc:  # not in the store
            log.info("image %s not added to the frame pool: %s", sha256[:12], exc)
            return None
    else:
        head = b""
    return add_frame_image(session, sha256=sha256, head=head, data=data, actor=actor)


def add_frame_image(
    session: Session, *, sha256: str, head: bytes, data: FrameCreate, actor: str
) -> Frame | None:
    """The frame of the image whose first bytes are ``head`` (its size is read from its header),
    added to the pool in the caller's transaction if it is not there yet (no commit, no ledger entry
    of its own). None when it is not a readable JPEG/PNG. The ingest of the edge's sample packages
    (``source: sample``) calls it with the frame's bytes before they reach the store."""
    frame = frame_by_sha256(session, sha256)
    if frame is not None:
        return frame
    try:
        info = image_info(head[:HEADER_BYTES], name=f"image {sha256[:12]}")
    except ServiceError as exc:  # not a JPEG/PNG with a readable header
        log.info("image %s not added to the frame pool: %s", sha256[:12], exc)
        return None
    return frames.insert_frame(session, sha256=sha256, info=info, data=data, actor=actor)


def sample_frame(manifest_sample: Any, *, camera_id: str, event_id: int, package_id: str) -> FrameCreate:
    """What the pool records of a sample package's frame (from a validated manifest)."""
    return FrameCreate.model_construct(
        camera_id=camera_id,
        source="sample",
        reason=manifest_sample.reason,
        origin=None,
        detections=_detections(d.model_dump(mode="json") for d in manifest_sample.detections),
        taken_at=_parse_utc(manifest_sample.frame_utc),
        case_id=None,
        event_id=event_id,
        package_id=package_id,
    )


def _frame_for_still(
    session: Session, *, store: EvidenceStore, case: Case, still: _Still, actor: str
) -> Frame | None:
    data = FrameCreate.model_construct(  # from a stored, validated manifest
        camera_id=case.camera_id,
        source="case",
        reason="review",
        origin=None,
        detections=_detections(still.detections),
        taken_at=_parse_utc(still.frame_utc),
        case_id=case.id,
        event_id=still.event.id,
        package_id=still.event.package_id,
    )
    return add_stored_frame(session, store=store, sha256=still.sha256, data=data, actor=actor)


def label_from_review(
    session: Session,
    *,
    store: EvidenceStore,
    case: Case,
    decision: str,
    false_detection: bool,
    actor: str,
) -> int:
    """Label the raw stills of a reviewed case in the caller's transaction (which holds the ledger
    lock); return how many frames got a new labelling. A confirm marks the hit's box at each still
    as an object of the hit's class; a dismissal as a false detection marks it as a hard negative;
    any other dismissal teaches nothing. What the frame had is kept (a box of the same class that
    the review's box overlaps is replaced) and so is its completeness; a new frame is partial."""
    if decision == "confirm":
        how, negative = "review_confirm", False
    elif false_detection:
        how, negative = "review_dismiss", True
    else:
        return 0
    count = 0
    for still in _stills_of_case(session, case).values():
        frame = _frame_for_still(session, store=store, case=case, still=still, actor=actor)
        if frame is None:
            continue
        new = []
        for b in still.boxes:
            box = _clipped(b["box"], frame.width, frame.height)
            if box is not None:
                new.append(frames.normal_box(b["label"], box, negative))
        if not new:
            continue
        latest = latest_labels(session, [frame.id]).get(frame.id)
        old = frames.sorted_boxes(latest.boxes) if latest is not None else []
        boxes = _merge(old, new)
        complete = latest.complete if latest is not None else False
        if latest is not None and boxes == old:
            continue
        frames.write_label(
            session, frame, boxes=boxes, complete=complete, how=how, actor=actor, case_id=case.id
        )
        count += 1
    return count
