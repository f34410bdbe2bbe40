"""Older hits and ledger entries of a case, page by page (``/cases/{id}/events``, ``/cases/{id}/ledger``).

The case page shows the latest ones (a case seen for weeks has thousands); its "more" links lead here,
``?before=`` the oldest one shown, and each page links to the one before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.deps import CaseId, Operator
from service.console.messages import translate
from service.console.render import render, request_lang
from service.crud import cases as crud
from service.errors import NotFound
from service.schemas.cases import HitPublic
from service.schemas.ledger import LedgerEntryPublic

router = APIRouter(include_in_schema=False)
PAGE = 100

Before = Annotated[int | None, Query(ge=1, le=2**62)]
RowT = TypeVar("RowT", HitPublic, LedgerEntryPublic)


def _not_found(request: Request, state: StateDep, principal: Principal, case_id: int) -> Response:
    lang, _ = request_lang(request)
    return render(
        request, state, "error.html", principal=principal, status_code=404,
        message=translate(lang, "err.not_found", id=case_id),
    )  # fmt: skip


def _one_page(rows: list[RowT], key: Callable[[RowT], int]) -> tuple[list[RowT], int | None]:
    """Of the newest ``PAGE + 1`` rows fetched, the ``PAGE`` shown and the key the page before them
    ends at (``before=``), or ``None`` when there is no page before."""
    if len(rows) <= PAGE:
        return rows, None
    shown = rows[1:]
    return shown, key(shown[0])


@router.get("/cases/{case_id}/events")
def older_events(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    before: Before = None,
) -> Response:
    try:
        case = crud.get_case(session, principal=principal, case_id=case_id)
    except NotFound:
        return _not_found(request, state, principal, case_id)
    rows = crud.hits_of_case(
        session, case_id=case_id, deadline=case.notice_deadline, before=before, limit=PAGE + 1, newest=True
    )
    hits, earlier = _one_page(rows, lambda h: h.id)
    return render(
        request, state, "case_more.html", principal=principal, kind="events", case_id=case_id, hits=hits,
        entries=[], earlier=earlier,
    )  # fmt: skip


@router.get("/cases/{case_id}/ledger")
def older_ledger(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    before: Before = None,
) -> Response:
    try:
        crud.get_case(session, principal=principal, case_id=case_id)
    except NotFound:
        return _not_found(request, state, principal, case_id)
    rows = crud.ledger_of_case(session, case_id=case_id, before=before, limit=PAGE + 1, newest=True)
    entries, earlier = _one_page(rows, lambda e: e.seq)
    return render(
        request, state, "case_more.html", principal=principal, kind="ledger", case_id=case_id, hits=[],
        entries=entries, earlier=earlier,
    )  # fmt: skip
