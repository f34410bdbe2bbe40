"""Cases: list, detail, the detail's hits and ledger page by page, review, notice, export."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from nce.bounds import CURSOR_MAX, INT32_MAX, Id, TimeInRange
from nce.vocabulary import Violation
from service.api.deps import (
    CaseReader,
    Exporter,
    NoticeIssuer,
    Reverter,
    Reviewer,
    SessionDep,
    StateDep,
)
from service.case_status import CaseStatus
from service.crud import case_actions, review_revert
from service.crud import cases as crud
from service.crud.export import export_case
from service.masks import MaskRules
from service.schemas.cases import (
    CaseDetail,
    CasePublic,
    CasesPublic,
    HitsPage,
    LedgerPage,
    NoticeIn,
    RevertIn,
    ReviewIn,
)

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

CaseId = Annotated[int, Path(ge=1, le=INT32_MAX)]


@router.get("", response_model=CasesPublic, summary="List cases, newest first")
def list_cases(
    session: SessionDep,
    principal: CaseReader,
    status: CaseStatus | None = None,
    violation: Violation | None = None,
    camera_id: Annotated[Id | None, Query()] = None,
    shop_id: Annotated[Id | None, Query()] = None,
    since: Annotated[TimeInRange | None, Query(description="last seen at or after (no offset: UTC)")] = None,
    until: Annotated[TimeInRange | None, Query(description="first seen before (no offset: UTC)")] = None,
    delivery: Annotated[
        Literal["in_person"] | None,
        Query(description="in_person: cases whose notice is to be handed over in person (现场送达)"),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=crud.MAX_PAGE)] = 50,
) -> CasesPublic:
    """A case system sees only reviewed and confirmed cases (never drafts or dismissed ones)."""
    flt = crud.CaseFilter(
        status=status,
        violation=str(violation) if violation else None,
        camera_id=camera_id,
        shop_id=shop_id,
        since=_aware(since),
        until=_aware(until),
        delivery=delivery,
    )
    rows, next_cursor = crud.list_cases(session, principal=principal, flt=flt, cursor=cursor, limit=limit)
    return CasesPublic(items=[CasePublic.model_validate(r) for r in rows], next_cursor=next_cursor)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


@router.get(
    "/{case_id}", response_model=CaseDetail, summary="One case with hits, party, basis, history, ledger"
)
def get_case(case_id: CaseId, state: StateDep, session: SessionDep, principal: CaseReader) -> CaseDetail:
    """The first page (100) of hits and of ledger entries; ``hits_next`` and ``ledger_next`` name the
    next pages. Once reviewed, ``party`` and ``legal_basis`` are the ones the ledger recorded."""
    return crud.case_detail(session, principal=principal, case_id=case_id, legal=state.legal)


Cursor = Annotated[str | None, Query(max_length=200)]
ItemsLimit = Annotated[int, Query(ge=1, le=crud.ITEMS_MAX_PAGE)]


@router.get("/{case_id}/events", response_model=HitsPage, summary="The case's hits, page by page")
def get_events(
    case_id: CaseId,
    session: SessionDep,
    principal: CaseReader,
    cursor: Cursor = None,
    limit: ItemsLimit = crud.DETAIL_PAGE,
) -> HitsPage:
    """Oldest first; pass ``next_cursor`` back as ``cursor`` (or GET ``next``) until it is null."""
    return crud.hits_page(session, principal=principal, case_id=case_id, cursor=cursor, limit=limit)


@router.get("/{case_id}/ledger", response_model=LedgerPage, summary="The case's ledger entries, page by page")
def get_ledger(
    case_id: CaseId,
    session: SessionDep,
    principal: CaseReader,
    cursor: Cursor = None,
    limit: ItemsLimit = crud.DETAIL_PAGE,
) -> LedgerPage:
    """Oldest first (by seq); pass ``next_cursor`` back as ``cursor`` until it is null."""
    return crud.ledger_page(session, principal=principal, case_id=case_id, cursor=cursor, limit=limit)


@router.post("/{case_id}/review", response_model=CasePublic, summary="Confirm or dismiss a draft")
def review(
    case_id: CaseId, data: ReviewIn, state: StateDep, session: SessionDep, principal: Reviewer
) -> CasePublic:
    """``dismiss`` needs a reason; ``violation`` corrects the violation type when confirming;
    ``false_detection`` (dismiss only: the detector saw an object that is not there) records the hit's
    boxes as hard negatives in the frame pool and may propose a learned mask for the camera; a real
    object that is no violation (a permitted stall, an event) is a plain dismissal with its reason.
    The ledger entry records the party (the shop registry's row) and the legal basis. Confirming
    labels the case's raw stills in the frame pool (partial: other objects on them are unverified)."""
    case = case_actions.review_case(
        session, principal=principal, case_id=case_id, data=data, legal=state.legal, store=state.store,
        mask_rules=MaskRules.of(state.settings),
    )  # fmt: skip
    return CasePublic.model_validate(case)


@router.post("/{case_id}/revert", response_model=CasePublic, summary="Revert a review (supervisor)")
def revert(
    case_id: CaseId, data: RevertIn, state: StateDep, session: SessionDep, principal: Reverter
) -> CasePublic:
    """Put a confirmed or dismissed case back to draft, with a reason: only while nothing followed the
    review (no notice, no export) and within ``review_revert_window_s`` of it (409 otherwise). The
    ledger entry ``review_reverted`` records the reason; the frame-pool labels the review wrote are
    withdrawn."""
    case = review_revert.revert_review(
        session, principal=principal, case_id=case_id, data=data,
        window_s=state.settings.review_revert_window_s,
    )  # fmt: skip
    return CasePublic.model_validate(case)


@router.post("/{case_id}/notice", response_model=CasePublic, summary="Issue a notice with a deadline")
def notice(case_id: CaseId, data: NoticeIn, session: SessionDep, principal: NoticeIssuer) -> CasePublic:
    return CasePublic.model_validate(
        case_actions.issue_notice(session, principal=principal, case_id=case_id, data=data)
    )


@router.get(
    "/{case_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the case as a zip"}},
    summary="Export a confirmed case (zip)",
)
def export(case_id: CaseId, state: StateDep, session: SessionDep, principal: Exporter) -> Response:
    name, zipped = export_case(
        session,
        store=state.store,
        principal=principal,
        case_id=case_id,
        legal=state.legal,
        tlog=state.transparency,
    )
    return StreamingResponse(
        iter(lambda: zipped.read(1 << 20), b""),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
        background=BackgroundTask(zipped.close),
    )
