"""The review desk's forms beyond one review: a supervisor reverting a review
(``/cases/{id}/revert``, :mod:`service.crud.review_revert`) and a bulk dismissal of drafts picked on the
queue (``/cases/bulk-dismiss``: a confirmation page with the count first, then one review per case,
each its own ledger entry, exactly as single dismissals; any reviewer may do it).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from service import auth
from service.api.deps import SessionDep, StateDep
from service.console import queue_link
from service.console.case_forms import REASON_MAX, after, service_error
from service.console.case_page import case_page_response
from service.console.deps import CaseId, FormStr, Operator, redirect
from service.console.guard import check_csrf
from service.console.messages import translate
from service.console.render import render, request_lang
from service.console.view import REASON_CODES, recorded_reason
from service.crud import case_actions, review_revert
from service.errors import ServiceError
from service.masks import MaskRules
from service.schemas.cases import RevertIn, ReviewIn

router = APIRouter(include_in_schema=False)
BULK_MAX = 100  # drafts in one bulk dismissal (a queue page is 30)
FormList = Annotated[list[str] | None, Form()]


@router.post("/cases/{case_id}/revert")
def revert(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
    reason: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    reason = reason.strip()

    def fail(message: str, status_code: int, detail: str | None = None) -> Response:
        session.rollback()
        return case_page_response(
            request, state, session, principal, case_id,
            error=message, error_detail=detail, status_code=status_code, form={"revert_reason": reason},
        )  # fmt: skip

    if principal.role not in auth.REVERT:
        return fail(translate(lang, "err.forbidden", role=principal.role), 403)
    if not reason:
        return fail(translate(lang, "desk.revert_reason_required"), 422)
    if len(reason) > REASON_MAX:
        return fail(translate(lang, "err.reason_too_long", n=REASON_MAX), 422)
    try:
        review_revert.revert_review(
            session, principal=principal, case_id=case_id, data=RevertIn(reason=reason),
            window_s=state.settings.review_revert_window_s,
        )  # fmt: skip
    except ValidationError:
        return fail(translate(lang, "desk.revert_reason_required"), 422)
    except ServiceError as exc:
        refusal = service_error(session, lang, case_id, exc)
        return fail(refusal.message, refusal.status_code, refusal.detail)
    return after(case_id, "reverted", request)


@router.post("/cases/bulk-dismiss")
def bulk_dismiss(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
    case: FormList = None,
    reason_code: FormStr = "",
    reason: FormStr = "",
    queue: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    """Without ``confirmed``: the confirmation page (how many, which, the reason). With it: dismiss each."""
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    _flt, queue_qs = queue_link.queue_of(queue)
    ids = sorted(
        {int(c) for c in case or [] if c.isascii() and c.isdigit() and 0 < len(c) < 10}, reverse=True
    )
    code, text = reason_code.strip(), reason.strip()
    error = None
    if not ids:
        error = translate(lang, "desk.bulk_none")
    elif len(ids) > BULK_MAX:
        error = translate(lang, "desk.bulk_too_many", n=BULK_MAX)
    elif code and code not in REASON_CODES:
        error = translate(lang, "err.bad_reason_code")
    elif not code and not text:
        error = translate(lang, "err.reason_required")
    elif len(text) > REASON_MAX:
        error = translate(lang, "err.reason_too_long", n=REASON_MAX)
    recorded = recorded_reason(code, text)
    if error is not None or confirmed != "1":
        return render(
            request, state, "bulk.html", principal=principal, status_code=422 if error else 200,
            error=error, ids=ids, reason_code=code, reason=text, recorded=recorded, queue_qs=queue_qs,
        )  # fmt: skip
    done = failed = 0
    for case_id in ids:
        data = ReviewIn(decision="dismiss", reason=recorded, false_detection=code == "false_detection")
        try:
            case_actions.review_case(
                session, principal=principal, case_id=case_id, data=data, legal=state.legal,
                store=state.store, mask_rules=MaskRules.of(state.settings),
            )  # fmt: skip
            done += 1
        except ServiceError:  # reviewed meanwhile, or gone: the others still go through
            session.rollback()
            failed += 1
    params = {"bulk": str(done), "bulk_failed": str(failed)}
    return redirect("/?" + "&".join(p for p in (queue_qs, urlencode(params)) if p))
