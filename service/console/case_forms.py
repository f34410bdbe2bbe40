"""The review and notice forms of a case page (``/cases/{id}/review``, ``/cases/{id}/notice``).

Each calls the same function as the API (:mod:`service.crud.case_actions`: ``review_case``, ``issue_notice``), so the ledger records
it the same way. Forms are parsed here (not by FastAPI's validation) so that bad input comes back as
the case page with a clear message in the page's language, never as JSON; the service's own refusal
is kept as the page's technical detail.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nce.bounds import TEXT_MAX
from nce.vocabulary import VIOLATIONS
from service import auth
from service.api.deps import SessionDep, StateDep
from service.console import queue_link
from service.console.case_page import case_page_response
from service.console.deps import CaseId, FormStr, Operator, redirect
from service.console.guard import check_csrf
from service.console.messages import Lang, translate
from service.console.refusal import Refusal, explain
from service.console.render import console_tz, request_lang
from service.console.view import REASON_CODES, recorded_reason
from service.crud import case_actions
from service.errors import ServiceError
from service.masks import MaskRules
from service.models import Case, utcnow
from service.schemas.cases import NoticeIn, ReviewIn

router = APIRouter(include_in_schema=False)
REASON_MAX = TEXT_MAX


def after(case_id: int, done: str, request: Request, session: Session | None = None) -> RedirectResponse:
    """Back to the case, with the queue's filter kept; after a review (``session`` given) on to the
    next draft of that queue instead, when there is one."""
    flt, queue_qs = queue_link.case_queue(request)
    params = {"queue": queue_qs} if queue_qs else {}
    if session is not None:
        following = queue_link.next_draft(session, case_id=case_id, flt=flt)
        if following is not None:
            return redirect(f"/cases/{following}?{urlencode({**params, 'done': done, 'done_id': case_id})}")
        params["end"] = "1"
    return redirect(f"/cases/{case_id}?{urlencode({**params, 'done': done})}")


def service_error(session: Session, lang: Lang, case_id: int, exc: ServiceError) -> Refusal:
    """The service's refusal as one line in the page's language (its own words kept as the detail)."""
    session.rollback()
    case = session.get(Case, case_id)
    return explain(exc, lang, case_id=case_id, case_status=case.status if case is not None else None)


def _invalid(exc: ValidationError) -> str:
    """A schema's refusal, for the technical detail."""
    return "HTTP 422 ValidationError: " + "; ".join(
        f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
    )


@router.post("/cases/{case_id}/review")
def review(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
    decision: FormStr = "",
    reason_code: FormStr = "",
    reason: FormStr = "",
    violation: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    decision, code, reason, violation = (
        decision.strip(),
        reason_code.strip(),
        reason.strip(),
        violation.strip(),
    )
    echo = {"decision": decision, "reason": reason, "violation": violation}

    def fail(key: str, status_code: int = 422, detail: str | None = None, **values: object) -> Response:
        session.rollback()
        return case_page_response(
            request, state, session, principal, case_id,
            error=translate(lang, key, **values), error_detail=detail, status_code=status_code, form=echo,
        )  # fmt: skip

    if decision not in ("confirm", "dismiss"):
        return fail("err.bad_decision")
    if code:
        if code not in REASON_CODES:
            return fail("err.bad_reason_code")
        reason = recorded_reason(code, reason)
    if violation and violation not in VIOLATIONS:
        return fail("err.bad_violation", v=violation[:64])
    if decision == "dismiss" and not reason:
        return fail("err.reason_required")
    if len(reason) > REASON_MAX:
        return fail("err.reason_too_long", n=REASON_MAX)
    try:  # 误检 (the detector was wrong) makes hard negatives; 非违规 (not_violation) is a plain dismissal
        data = ReviewIn(
            decision=decision,
            reason=reason or None,
            violation=violation or None,
            false_detection=decision == "dismiss" and code == "false_detection",
        )
    except ValidationError as exc:
        return fail("err.service.422", detail=_invalid(exc))
    try:
        case_actions.review_case(
            session, principal=principal, case_id=case_id, data=data, legal=state.legal, store=state.store,
            mask_rules=MaskRules.of(state.settings),
        )  # fmt: skip
    except ServiceError as exc:
        refusal = service_error(session, lang, case_id, exc)
        return case_page_response(
            request, state, session, principal, case_id,
            error=refusal.message, error_detail=refusal.detail, status_code=refusal.status_code, form=echo,
        )  # fmt: skip
    return after(case_id, "confirmed" if decision == "confirm" else "dismissed", request, session)


@router.post("/cases/{case_id}/notice")
def notice(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
    deadline: FormStr = "",
    note: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    raw, note = deadline.strip(), note.strip()
    echo = {"deadline": raw, "note": note}

    def fail(message: str, status_code: int = 422, detail: str | None = None) -> Response:
        session.rollback()
        return case_page_response(
            request, state, session, principal, case_id,
            error=message, error_detail=detail, status_code=status_code, form=echo,
        )  # fmt: skip

    if principal.role not in auth.NOTICE:
        return fail(translate(lang, "err.forbidden", role=principal.role), 403)
    try:
        local = dt.datetime.fromisoformat(raw)
    except ValueError:
        return fail(translate(lang, "err.bad_deadline"))
    due = local.replace(tzinfo=console_tz()) if local.tzinfo is None else local
    if due <= utcnow():
        return fail(translate(lang, "err.deadline_past"))
    if len(note) > REASON_MAX:
        return fail(translate(lang, "err.reason_too_long", n=REASON_MAX))
    try:
        data = NoticeIn(deadline=due, note=note or None)
        case_actions.issue_notice(session, principal=principal, case_id=case_id, data=data)
    except ValidationError as exc:
        return fail(translate(lang, "err.service.422"), detail=_invalid(exc))
    except ServiceError as exc:
        refusal = service_error(session, lang, case_id, exc)
        return fail(refusal.message, refusal.status_code, refusal.detail)
    return after(case_id, "notice_issued", request)
