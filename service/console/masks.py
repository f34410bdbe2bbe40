"""The learned-masks page (屏蔽区, ``/masks``): mask proposals per camera, each on a still of the camera
with the proposed polygon, the dismissed boxes and their bottom-centres drawn in SVG on top; a
supervisor accepts or rejects (``/masks/{id}/accept``, ``/masks/{id}/reject``: forms with the CSRF
field, acting through :func:`service.crud.masks.decide` as the API does, so the ledger records it the
same way); everyone who reviews sees the proposals and downloads a camera's accepted masks as YAML
(``GET /api/v1/masks.yaml``). Operators see no buttons, and a post of theirs is refused (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.bounds import ID_MAX, TEXT_MAX, Id
from service import auth
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.deps import FormStr, Operator, redirect
from service.console.guard import check_csrf
from service.console.messages import translate
from service.console.render import render, request_lang
from service.crud import masks as crud
from service.errors import Conflict, NotFound
from service.masks import MaskRules
from service.models import Frame, MaskProposal
from service.schemas.masks import MASK_STATUSES, MaskProposalPublic
from service.state import AppState

router = APIRouter(include_in_schema=False)
_CAMERA: Final = TypeAdapter(Id)
ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@dataclass(frozen=True)
class ProposalView:
    """One proposal as the page draws it (coordinates are fractions of the still: the SVG's viewBox
    is ``0 0 1 1`` stretched over the image)."""

    p: MaskProposalPublic
    image_url: str | None
    points: str  # the polygon, "x,y x,y …"
    boxes: list[tuple[float, float, float, float]]  # x, y, width, height
    feet: list[tuple[float, float]]


def _still(session: Session, p: MaskProposalPublic) -> int | None:
    """The frame to draw on: the latest dismissed still still in the pool, else the camera's latest."""
    ids = [e.frame_id for e in sorted(p.evidence, key=lambda e: e.at, reverse=True) if e.frame_id]
    if ids:
        found = set(session.execute(select(Frame.id).where(Frame.id.in_(ids))).scalars())
        for i in ids:
            if i in found:
                return i
    q = select(Frame.id).where(Frame.camera_id == p.camera_id).order_by(Frame.id.desc()).limit(1)
    return session.execute(q).scalar_one_or_none()


def _view(session: Session, row: MaskProposal) -> ProposalView:
    p = crud.public(row)
    frame_id = _still(session, p)
    return ProposalView(
        p=p,
        image_url=f"/api/v1/frames/{frame_id}/image" if frame_id else None,
        points=" ".join(f"{x:.4f},{y:.4f}" for x, y in p.polygon),
        boxes=[(e.box[0], e.box[1], e.box[2] - e.box[0], e.box[3] - e.box[1]) for e in p.evidence],
        feet=[((e.box[0] + e.box[2]) / 2, e.box[3]) for e in p.evidence],
    )


def _cameras(session: Session) -> list[str]:
    q = select(MaskProposal.camera_id).distinct().order_by(MaskProposal.camera_id)
    return [str(c) for c in session.execute(q).scalars()]


def masks_response(
    request: Request,
    state: AppState,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    lang, _ = request_lang(request)
    q = request.query_params
    errors = [error] if error else []
    status = q.get("status", "proposed")
    if status not in MASK_STATUSES:
        errors.append(translate(lang, "queue.bad_filter", detail=f"status={status[:32]}"))
        status, status_code = "proposed", max(status_code, 422)
    camera = q.get("camera", "")
    if camera:
        try:
            _CAMERA.validate_python(camera)
        except ValidationError:
            errors.append(translate(lang, "queue.bad_filter", detail=f"camera={camera[:ID_MAX]!r}"))
            camera, status_code = "", max(status_code, 422)
    rows = crud.list_proposals(session, status=status, camera_id=camera or None)
    by_camera: dict[str, list[ProposalView]] = {}
    for row in sorted(rows, key=lambda r: (r.camera_id, -r.id)):
        by_camera.setdefault(row.camera_id, []).append(_view(session, row))
    done = q.get("done")
    flash = None
    if done in ("accepted", "rejected") and q.get("id", "").isdigit():
        flash = translate(lang, f"masks.done.{done}", id=int(q["id"]))
    rules = MaskRules.of(state.settings)
    counts = crud.status_counts(session)
    return render(
        request,
        state,
        "masks.html",
        principal=principal,
        status_code=status_code,
        errors=errors,
        flash=flash,
        f={"status": status, "camera": camera},
        statuses=MASK_STATUSES,
        counts={s: counts.get(s, 0) for s in MASK_STATUSES},
        cameras=_cameras(session),
        by_camera=by_camera,
        can_decide=principal.role in auth.MASKS_DECIDE,
        rules=rules,
        form=form or {},
    )


@router.get("/masks")
def masks_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    return masks_response(request, state, session, principal)


def _decide(
    request: Request,
    state: AppState,
    session: Session,
    principal: Principal,
    proposal_id: int,
    *,
    accept: bool,
    reason: str,
) -> Response:
    lang, _ = request_lang(request)
    form = {"id": str(proposal_id), "reason": reason}

    def fail(message: str, status_code: int) -> Response:
        session.rollback()
        return masks_response(
            request, state, session, principal, error=message, status_code=status_code, form=form
        )

    if principal.role not in auth.MASKS_DECIDE:
        return fail(translate(lang, "masks.err.forbidden", role=principal.role), 403)
    if not accept and not reason:
        return fail(translate(lang, "masks.err.reason_required"), 422)
    if len(reason) > TEXT_MAX:
        return fail(translate(lang, "err.reason_too_long", n=TEXT_MAX), 422)
    try:
        row = crud.decide(
            session, principal=principal, proposal_id=proposal_id, accept=accept, reason=reason or None
        )
    except NotFound:
        return fail(translate(lang, "masks.err.not_found", id=proposal_id), 404)
    except Conflict:
        return fail(translate(lang, "masks.err.decided", id=proposal_id), 409)
    params = {"status": request.query_params.get("status", "proposed")}
    if params["status"] not in MASK_STATUSES:
        params["status"] = "proposed"
    camera = request.query_params.get("camera", "")
    if camera and len(camera) <= ID_MAX:
        params["camera"] = camera
    return redirect(f"/masks?{urlencode({**params, 'done': row.status, 'id': row.id})}")


@router.post("/masks/{proposal_id}/accept")
def accept(
    proposal_id: ProposalId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    return _decide(request, state, session, principal, proposal_id, accept=True, reason="")


@router.post("/masks/{proposal_id}/reject")
def reject(
    proposal_id: ProposalId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
    reason: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    return _decide(request, state, session, principal, proposal_id, accept=False, reason=reason.strip())
