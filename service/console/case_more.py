"""Older hits and ledger entries of a case, page by page (``/cases/{id}/events``, ``/cases/{id}/ledger``).

The case page shows the latest ones (a case seen for weeks has thousands); its "more" links lead here,
``?before=`` the oldest one shown, and each page links to the one before it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.guard import principal_of
from service.console.messages import translate
from service.console.render import render, request_lang
from service.crud import cases as crud
from service.errors import NotFound

router = APIRouter(include_in_schema=False)
PAGE = 100

CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Before = Annotated[int | None, Query(ge=1, le=2**62)]


def _operator(request: Request, state: StateDep, session: SessionDep) -> Principal:
    return principal_of(request, state, session)


Operator = Annotated[Principal, Depends(_operator)]


def _not_found(request: Request, state: StateDep, principal: Principal, case_id: int) -> Response:
    lang, _ = request_lang(request)
    return render(
        request, state, "error.html", principal=principal, status_code=404,
        message=translate(lang, "err.not_found", id=case_id),
    )  # fmt: skip


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
    more = len(rows) > PAGE
    rows = rows[1:] if more else rows
    return render(
        request, state, "case_more.html", principal=principal, kind="events", case_id=case_id, hits=rows,
        entries=[], earlier=rows[0].id if more and rows else None,
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
    more = len(rows) > PAGE
    rows = rows[1:] if more else rows
    return render(
        request, state, "case_more.html", principal=principal, kind="ledger", case_id=case_id, hits=[],
        entries=rows, earlier=rows[0].seq if more and rows else None,
    )  # fmt: skip
