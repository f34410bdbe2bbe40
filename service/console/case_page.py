"""One case's page (``/cases/{id}``): the evidence timeline, the stills, the party and legal basis,
the ledger, and the review and notice forms the operator's role and the case's status allow.

A case seen for weeks has thousands of hits and ledger entries: the page shows the oldest and the
latest hits and the latest :data:`LEDGER_ROWS` entries; the rest are on :mod:`service.console.case_more`.
The forms post to :mod:`service.console.case_forms`, which shows this page again with its error.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from nce.vocabulary import VIOLATIONS
from service import auth, fleet, workflow
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.case_status import REVIEWED_STATUSES
from service.console import cameras, queries, queue_link
from service.console.deps import CaseId, Operator
from service.console.messages import Lang, translate
from service.console.render import console_tz, render, request_lang
from service.console.shop_side import shop_side
from service.console.view import REASON_CODES, TIMELINE_HEAD, TIMELINE_TAIL, build
from service.crud import cases as crud
from service.crud import review_revert
from service.errors import NotFound
from service.models import utcnow
from service.schemas.cases import CaseDetail
from service.schemas.ledger import LedgerEntryPublic

router = APIRouter(include_in_schema=False)


def case_page_response(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Principal,
    case_id: int,
    *,
    error: str | None = None,
    error_detail: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    lang, _ = request_lang(request)
    try:
        detail = crud.case_detail(session, principal=principal, case_id=case_id, legal=state.legal)
    except NotFound:
        return render(
            request, state, "error.html", principal=principal, status_code=404,
            message=translate(lang, "err.not_found", id=case_id),
        )  # fmt: skip
    flt, queue_qs = queue_link.case_queue(request)
    prev_id, next_id = queue_link.neighbours(session, case_id=case_id, flt=flt)
    detail, ledger_rows = _latest(session, detail)
    view = build(detail, queries.manifests(session, [h.id for h in detail.hits]))
    site_cameras = list(cameras.camera_places(session, site_id=detail.case.site_id).values())
    plan = cameras.plan_svg(detail.case.camera_id, site_cameras, translate(lang, "case.plan"))
    flash = _flash(request, lang, case_id)
    status = detail.case.status
    revert_until = review_revert.revertible_until(
        status, detail.case.reviewed_at, state.settings.review_revert_window_s
    )
    now_local = utcnow().astimezone(console_tz())
    presets = {h: (now_local + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M") for h in (2, 24, 72, 168)}
    return render(
        request,
        state,
        "case.html",
        principal=principal,
        status_code=status_code,
        v=view,
        c=detail.case,
        plan=plan,
        error=error,
        error_detail=error_detail,
        flash=flash,
        prev_id=prev_id,
        next_id=next_id,
        queue_qs=queue_qs,
        back_url="/?" + queue_qs if queue_qs else "/",
        can_revert=revert_until is not None and principal.role in auth.REVERT,
        revert_until=revert_until,
        can_review=workflow.can_move(status, "confirmed") and principal.role in auth.REVIEW,
        can_notice=workflow.can_move(status, "notice_issued") and principal.role in auth.NOTICE,
        can_export=principal.role in auth.EXPORT and status in REVIEWED_STATUSES,
        violations=VIOLATIONS,
        reason_codes=REASON_CODES,
        ledger_rows=ledger_rows,
        ledger_hidden=detail.ledger_total - len(ledger_rows),
        form=form or {},
        presets=presets,
        clock_off=fleet.clock_flags(session, case_id),
        shop_side=shop_side(session, case_id),  # public copy, the shop's responses: console/shop_side.py
        reviewed_statuses=REVIEWED_STATUSES,
    )


def _flash(request: Request, lang: Lang, case_id: int) -> str | None:
    """What was just done (``done``; ``done_id``: the case it was done to, when the page moved on to
    the next draft; ``end``: no draft left in the queue)."""
    q = request.query_params
    done, done_id = q.get("done"), q.get("done_id", "")
    if done not in ("confirmed", "dismissed", "notice_issued", "reverted"):
        return None
    of = int(done_id) if done_id.isascii() and done_id.isdigit() and len(done_id) < 10 else case_id
    text = translate(lang, f"done.{done}", id=of)
    return text + translate(lang, "desk.queue_end") if q.get("end") == "1" else text


LEDGER_ROWS = 100  # the latest entries on the case page; older ones: /cases/{id}/ledger


def _latest(session: Session, detail: CaseDetail) -> tuple[CaseDetail, list[LedgerEntryPublic]]:
    """The hits the page shows (the oldest, from the detail's first page, and the latest) and the latest
    ledger entries: a case seen for weeks has thousands of each."""
    if detail.hits_next is not None:
        head = detail.hits[:TIMELINE_HEAD]
        tail = crud.hits_of_case(
            session,
            case_id=detail.case.id,
            deadline=detail.case.notice_deadline,
            limit=TIMELINE_TAIL,
            newest=True,
        )
        detail = detail.model_copy(update={"hits": head + [h for h in tail if h.id > head[-1].id]})
    entries = detail.ledger
    if detail.ledger_total > len(entries):
        entries = crud.ledger_of_case(session, case_id=detail.case.id, limit=LEDGER_ROWS, newest=True)
    return detail, entries


@router.get("/cases/{case_id}")
def case_page(
    case_id: CaseId, request: Request, state: StateDep, session: SessionDep, principal: Operator
) -> Response:
    return case_page_response(request, state, session, principal, case_id)
