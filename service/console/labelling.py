"""The labelling page (标注, ``/label``): working through the frame pool, keyboard first.

The page is a shell: ``static/label.js`` reads the pool through the frames API
(``GET /api/v1/frames``, ``GET /api/v1/frames/{id}``, its image) and saves with
``PUT /api/v1/frames/{id}/labels``, all with the console's session cookie (the API takes it; the
cookie is ``SameSite=Strict`` and the PUT's JSON body needs a same-origin request, so no other site
can send it). Saving thus goes through :func:`service.crud.frames.set_labels`, its checks and its
ledger entry, exactly as for any API client. This module renders the filters, the words the script
shows (in the page's language) and, for supervisors, how many frames each labeller has labelled.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from nce.bounds import ID_MAX
from nce.vocabulary import MODEL_CLASSES
from service.api.deps import SessionDep, StateDep
from service.console.deps import Operator
from service.console.messages import CATALOGUE, Lang, translate
from service.console.render import console_tz, render, request_lang
from service.models import Frame, FrameLabel, utcnow
from service.schemas.frames import CameraId, FrameStatus

router = APIRouter(include_in_schema=False)

STATUSES: Final[tuple[FrameStatus, ...]] = ("unlabelled", "partial", "labelled")
SEE_COUNTS: Final = frozenset({"supervisor", "admin"})  # who sees the per-labeller counts
RECENT_DAYS: Final = 7
_CAMERA = TypeAdapter(CameraId)


@dataclass(frozen=True)
class LabellerCount:
    labeller: str  # the ledger's actor, ``user:alice``
    frames: int  # distinct frames labelled
    labellings: int  # every save that changed something
    recent: int  # labellings in the last RECENT_DAYS days
    latest: dt.datetime


def labeller_counts(session: Session, *, now: dt.datetime) -> list[LabellerCount]:
    """Labellings by a labeller (``how == "label"``; reviews label too, but are counted as reviews),
    most frames first."""
    since = now - dt.timedelta(days=RECENT_DAYS)
    q = (
        select(
            FrameLabel.labelled_by,
            func.count(distinct(FrameLabel.frame_id)),
            func.count(FrameLabel.id),
            func.count(FrameLabel.id).filter(FrameLabel.created_at >= since),
            func.max(FrameLabel.created_at),
        )
        .where(FrameLabel.how == "label")
        .group_by(FrameLabel.labelled_by)
    )
    rows = [LabellerCount(str(a), int(f), int(n), int(r), m) for a, f, n, r, m in session.execute(q)]
    return sorted(rows, key=lambda c: (-c.frames, c.labeller))


def status_counts(session: Session, *, camera_id: str | None) -> dict[str, int]:
    q = select(Frame.status, func.count(Frame.id)).group_by(Frame.status)
    if camera_id:
        q = q.where(Frame.camera_id == camera_id)
    found = {str(s): int(n) for s, n in session.execute(q)}
    return {s: found.get(s, 0) for s in STATUSES}


def pool_cameras(session: Session) -> list[str]:
    q = select(Frame.camera_id).distinct().order_by(Frame.camera_id)
    return [str(c) for c in session.execute(q).scalars()]


def script_words(lang: Lang) -> dict[str, str]:
    """The words ``label.js`` shows, in the page's language (placeholders left for the script)."""
    keys = [k for k in CATALOGUE if k.startswith(("labeljs.", "labelhow.", "class."))]
    return {k: CATALOGUE[k][1 if lang == "en" else 0] for k in keys}


@router.get("/label")
def label_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    lang, _ = request_lang(request)
    q = request.query_params
    errors: list[str] = []
    status = q.get("status", "unlabelled")
    if status not in STATUSES:
        errors.append(translate(lang, "queue.bad_filter", detail=f"status={status[:32]}"))
        status = "unlabelled"
    camera = q.get("camera", "")
    if camera:
        try:
            _CAMERA.validate_python(camera)
        except ValidationError:
            errors.append(translate(lang, "queue.bad_filter", detail=f"camera={camera[:ID_MAX]!r}"))
            camera = ""
    counts = labeller_counts(session, now=utcnow()) if principal.role in SEE_COUNTS else None
    config = {
        "status": status,
        "camera": camera,
        "classes": list(MODEL_CLASSES),
        "tz": console_tz().key,
        "words": script_words(lang),
    }
    return render(
        request,
        state,
        "label.html",
        principal=principal,
        status_code=422 if errors else 200,
        errors=errors,
        f={"status": status, "camera": camera},
        statuses=STATUSES,
        status_counts=status_counts(session, camera_id=camera or None),
        cameras=pool_cameras(session),
        classes=MODEL_CLASSES,
        counts=counts,
        recent_days=RECENT_DAYS,
        config=json.dumps(config, ensure_ascii=False),
    )
