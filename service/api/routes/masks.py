"""Learned masks: proposals (operators read), a supervisor's accept / reject, a recompute, and the
accepted masks of a camera as the YAML lines to paste into the site config."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from nce.bounds import Id
from service.api.deps import MaskDecider, MaskReader, SessionDep, StateDep
from service.crud import masks as crud
from service.masks import MaskRules, yaml_lines
from service.schemas.masks import (
    MaskDecisionIn,
    MaskProposalPublic,
    MaskRejectIn,
    MasksPage,
    MaskStatus,
    RecomputeResult,
)

router = APIRouter(tags=["masks"])

ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1)]
YAML_TYPE = "application/yaml; charset=utf-8"


@router.get("/api/v1/masks", response_model=MasksPage, summary="Learned-mask proposals, newest first")
def list_masks(
    session: SessionDep,
    principal: MaskReader,
    status: MaskStatus | None = None,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=crud.MAX_LIST)] = 200,
) -> MasksPage:
    rows = crud.list_proposals(session, status=status, camera_id=camera_id, limit=limit)
    return MasksPage(items=[crud.public(r) for r in rows], count=len(rows))


@router.get(
    "/api/v1/masks.yaml",
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/yaml": {}}, "description": "YAML lines (a list of masks)"}},
    summary="A camera's accepted masks as the YAML lines of cameras[].masks",
)
def masks_yaml(
    session: SessionDep, principal: MaskReader, camera_id: Annotated[Id, Query()]
) -> PlainTextResponse:
    """Paste them under the camera's ``masks:`` in the site config (until the config is delivered
    remotely); each is a ``detector.config.masks.Mask``."""
    rows = crud.accepted(session, camera_id)
    text = yaml_lines(camera_id, [(r.id, [r.label], r.polygon, r.decided_by or "?") for r in rows])
    return PlainTextResponse(
        text,
        media_type=YAML_TYPE,
        headers={"Content-Disposition": f'attachment; filename="masks-{camera_id}.yaml"'},
    )


@router.post(
    "/api/v1/masks/recompute",
    response_model=RecomputeResult,
    summary="Recompute the proposals from the dismissals (supervisor)",
)
def recompute(state: StateDep, session: SessionDep, principal: MaskDecider) -> RecomputeResult:
    """Idempotent: nothing new dismissed, nothing changes. Reviews that dismiss a case as a false
    detection recompute their camera already; this is for after a change of the settings."""
    result = crud.recompute(session, MaskRules.of(state.settings))
    return RecomputeResult(created=result.created, updated=result.updated)


@router.get("/api/v1/masks/{proposal_id}", response_model=MaskProposalPublic, summary="One proposal")
def get_mask(proposal_id: ProposalId, session: SessionDep, principal: MaskReader) -> MaskProposalPublic:
    return crud.public(crud.get_proposal(session, proposal_id))


@router.post(
    "/api/v1/masks/{proposal_id}/accept",
    response_model=MaskProposalPublic,
    responses={409: {"description": "decided already"}},
    summary="Accept a proposed mask (supervisor)",
)
def accept(
    proposal_id: ProposalId, session: SessionDep, principal: MaskDecider, data: MaskDecisionIn | None = None
) -> MaskProposalPublic:
    row = crud.decide(
        session,
        principal=principal,
        proposal_id=proposal_id,
        accept=True,
        reason=data.reason if data else None,
    )
    return crud.public(row)


@router.post(
    "/api/v1/masks/{proposal_id}/reject",
    response_model=MaskProposalPublic,
    responses={409: {"description": "decided already"}},
    summary="Reject a proposed mask (supervisor; a reason is required)",
)
def reject(
    proposal_id: ProposalId, data: MaskRejectIn, session: SessionDep, principal: MaskDecider
) -> MaskProposalPublic:
    row = crud.decide(session, principal=principal, proposal_id=proposal_id, accept=False, reason=data.reason)
    return crud.public(row)
