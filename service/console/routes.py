"""The console's pages and form posts, served at ``/``.

Pages read through :mod:`service.crud.cases` (the API's functions) and :mod:`service.console.queries`;
every action calls the same crud function as the API (``review_case``, ``issue_notice``), so the
ledger records it the same way. Forms are parsed here (not by FastAPI's validation) so that bad input
comes back as the page with a clear message, never as JSON.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nce.bounds import ID_MAX, TEXT_MAX, check_id, check_time
from nce.vocabulary import VIOLATIONS
from service import auth, cookies, workflow
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console import queries
from service.console.charts import rate_bars, stacked_days
from service.console.guard import (
    CsrfRejected,
    LoginRequired,
    NotForConsole,
    check_csrf,
    principal_of,
)
from service.console.messages import CATALOGUE, Lang, translate, translate_or
from service.console.refusal import Refusal, explain
from service.console.render import HERE, console_tz, render, request_lang
from service.console.view import TIMELINE_HEAD, TIMELINE_TAIL, build
from service.crud import cases as crud
from service.crud import identities
from service.errors import Busy, Invalid, NotFound, ServiceError, TooManyRequests, Unauthorized
from service.models import Case, utcnow
from service.schemas.cases import CaseDetail, NoticeIn, ReviewIn
from service.schemas.common import CASE_STATUSES
from service.schemas.ledger import LedgerEntryPublic
from service.signin import client_address, sign_in

router = APIRouter(include_in_schema=False)

REASON_CODES: tuple[str, ...] = tuple(k.removeprefix("reason.") for k in CATALOGUE if k.startswith("reason."))
REASON_MAX = TEXT_MAX
PAGE_SIZE = 30
DASH_DAYS = (7, 14, 30, 90)


def operator(request: Request, state: StateDep, session: SessionDep) -> Principal:
    return principal_of(request, state, session)


Operator = Annotated[Principal, Depends(operator)]
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _optional_principal(request: Request, state: StateDep, session: SessionDep) -> Principal | None:
    try:
        return principal_of(request, state, session)
    except (LoginRequired, NotForConsole):
        return None


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never ``//host`` or a scheme) may follow sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# every form field is optional here: a missing one is reported on the page, never as a JSON 422
FormStr = Annotated[str, Form()]


# --- sign-in --------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, state: StateDep, session: SessionDep) -> Response:
    if _optional_principal(request, state, session) is not None:
        return _redirect(_safe_next(request.query_params.get("next")))
    expired = request.query_params.get("expired") == "1"
    return render(
        request,
        state,
        "login.html",
        principal=None,
        error="login.expired" if expired else None,
        next=_safe_next(request.query_params.get("next")),
        username="",
    )


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    csrf: FormStr = "",
    username: FormStr = "",
    password: FormStr = "",
    next_: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """The same sign-in as the API (:func:`service.signin.sign_in`): the same lockouts and limits."""
    check_csrf(request, state.settings, csrf, signing_in=True)
    username = username.strip()
    next_url = _safe_next(next_.strip())

    def page(status_code: int, error: str, **values: object) -> Response:
        return render(
            request, state, "login.html", principal=None, status_code=status_code,
            error=error, error_values=values, next=next_url, username=username,
        )  # fmt: skip

    if not username or not password:
        return page(422, "login.missing")
    try:
        done = await sign_in(state, username=username, password=password, address=client_address(request))
    except Unauthorized:
        return page(401, "login.failed")
    except (TooManyRequests, Busy) as exc:
        retry = exc.retry_after or 1
        key = "login.locked" if isinstance(exc, TooManyRequests) else "login.busy"
        response = page(exc.status_code, key, minutes=math.ceil(retry / 60))
        response.headers["Retry-After"] = str(retry)
        return response
    response = _redirect(next_url)
    cookies.set_session(response, state.settings, done.token)
    return response


@router.post("/logout")
def logout(
    request: Request, state: StateDep, session: SessionDep, principal: Operator, csrf: FormStr = ""
) -> Response:
    check_csrf(request, state.settings, csrf)
    identities.logout(session, principal=principal)
    response = _redirect("/login")
    cookies.clear_session(response, state.settings)
    return response


# --- the queue ------------------------------------------------------------------------------------


def _is_id(value: str) -> bool:
    try:
        check_id(value)
    except ValueError:
        return False
    return True


def _day_bounds(day: str) -> tuple[dt.datetime, dt.datetime]:
    d = dt.date.fromisoformat(day)
    check_time(dt.datetime.combine(d, dt.time()))  # years 1900-2999: no overflow below
    start = dt.datetime.combine(d, dt.time(), tzinfo=console_tz())
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


@router.get("/")
def queue(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    q = request.query_params
    status = q.get("status", "draft")
    violation = q.get("violation", "")
    camera = q.get("camera", "")
    day = q.get("date", "")
    cursor = q.get("cursor") or None
    errors: list[str] = []
    lang, _ = request_lang(request)
    if status not in (*CASE_STATUSES, "all"):
        errors.append(translate(lang, "queue.bad_filter", detail=f"status={status}"))
        status = "draft"
    if violation and violation not in VIOLATIONS:
        errors.append(translate(lang, "queue.bad_filter", detail=f"violation={violation}"))
        violation = ""
    if camera and (len(camera) > ID_MAX or not _is_id(camera)):
        errors.append(translate(lang, "queue.bad_filter", detail=f"camera={camera[:ID_MAX]!r}"))
        camera = ""
    since = until = None
    if day:
        try:
            since, until = _day_bounds(day)
        except ValueError:
            errors.append(translate(lang, "queue.bad_date"))
            day = ""
    flt = crud.CaseFilter(
        status=None if status == "all" else status,
        violation=violation or None,
        camera_id=camera[:64] or None,
        since=since,
        until=until,
    )
    try:
        rows, next_cursor = crud.list_cases(
            session, principal=principal, flt=flt, cursor=cursor, limit=PAGE_SIZE
        )
    except Invalid as exc:  # a cursor this service did not issue: the first page
        errors.append(explain(exc, lang).message)
        rows, next_cursor = crud.list_cases(
            session, principal=principal, flt=flt, cursor=None, limit=PAGE_SIZE
        )
    ids = [c.id for c in rows]
    return render(
        request,
        state,
        "queue.html",
        principal=principal,
        status_code=422 if errors else 200,
        errors=errors,
        cases=rows,
        thumbs=queries.thumbnails(session, ids),
        shops=queries.shop_names(session, {c.shop_id for c in rows if c.shop_id}),
        counts=queries.status_counts(session),
        cameras=queries.camera_ids(session),
        statuses=CASE_STATUSES,
        violations=VIOLATIONS,
        f={"status": status, "violation": violation, "camera": camera, "date": day},
        next_cursor=next_cursor,
        paged=cursor is not None,
    )


# --- one case -------------------------------------------------------------------------------------


def _case_page(
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
    queue_status = request.query_params.get("s", "draft")
    if queue_status not in CASE_STATUSES:
        queue_status = "draft"
    prev_id, next_id = queries.neighbours(session, case_id=case_id, status=queue_status)
    detail, ledger_rows = _latest(session, detail)
    view = build(detail, queries.manifests(session, [h.id for h in detail.hits]))
    done = request.query_params.get("done")
    flash = (
        translate(lang, f"done.{done}", id=case_id)
        if done in ("confirmed", "dismissed", "notice_issued")
        else None
    )
    status = detail.case.status
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
        error=error,
        error_detail=error_detail,
        flash=flash,
        prev_id=prev_id,
        next_id=next_id,
        queue_status=queue_status,
        can_review=workflow.can_move(status, "confirmed") and principal.role in auth.REVIEW,
        can_notice=workflow.can_move(status, "notice_issued") and principal.role in auth.NOTICE,
        violations=VIOLATIONS,
        reason_codes=REASON_CODES,
        ledger_rows=ledger_rows,
        ledger_hidden=detail.ledger_total - len(ledger_rows),
        form=form or {},
        presets=presets,
    )


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
    return _case_page(request, state, session, principal, case_id)


def _after(case_id: int, done: str, request: Request) -> RedirectResponse:
    params = {"done": done}
    s = request.query_params.get("s")
    if s in CASE_STATUSES:
        params["s"] = s
    return _redirect(f"/cases/{case_id}?{urlencode(params)}")


def _service_error(session: Session, lang: Lang, case_id: int, exc: ServiceError) -> Refusal:
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
        return _case_page(
            request, state, session, principal, case_id,
            error=translate(lang, key, **values), error_detail=detail, status_code=status_code, form=echo,
        )  # fmt: skip

    if decision not in ("confirm", "dismiss"):
        return fail("err.bad_decision")
    if code:
        if code not in REASON_CODES:
            return fail("err.bad_reason_code")
        # the record is kept in Chinese, whatever the page's language
        common = translate("zh-CN", f"reason.{code}")
        reason = f"{common}；{reason}" if reason else common
    if violation and violation not in VIOLATIONS:
        return fail("err.bad_violation", v=violation[:64])
    if decision == "dismiss" and not reason:
        return fail("err.reason_required")
    if len(reason) > REASON_MAX:
        return fail("err.reason_too_long", n=REASON_MAX)
    try:
        data = ReviewIn(
            decision=decision,
            reason=reason or None,
            violation=violation or None,
            false_detection=decision == "dismiss" and code == "false_detection",
        )
    except ValidationError as exc:
        return fail("err.service.422", detail=_invalid(exc))
    try:
        crud.review_case(
            session, principal=principal, case_id=case_id, data=data, legal=state.legal, store=state.store
        )
    except ServiceError as exc:
        refusal = _service_error(session, lang, case_id, exc)
        return _case_page(
            request, state, session, principal, case_id,
            error=refusal.message, error_detail=refusal.detail, status_code=refusal.status_code, form=echo,
        )  # fmt: skip
    return _after(case_id, "confirmed" if decision == "confirm" else "dismissed", request)


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
        return _case_page(
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
        crud.issue_notice(session, principal=principal, case_id=case_id, data=data)
    except ValidationError as exc:
        return fail(translate(lang, "err.service.422"), detail=_invalid(exc))
    except ServiceError as exc:
        refusal = _service_error(session, lang, case_id, exc)
        return fail(refusal.message, refusal.status_code, refusal.detail)
    return _after(case_id, "notice_issued", request)


# --- the dashboard --------------------------------------------------------------------------------


@router.get("/dashboard")
def dashboard(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    lang, _ = request_lang(request)
    try:
        days = int(request.query_params.get("days", "14"))
    except ValueError:
        days = 14
    days = days if days in DASH_DAYS else 14
    s = queries.stats(session, days=days, tz=console_tz(), now=utcnow())

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    def violation_label(v: str) -> str:
        return t(f"violation.{v}") if v in VIOLATIONS else v

    def rule_label(key: str) -> str:
        v, _, zone = key.partition("|")
        zone_label = translate_or(lang, f"zone.{zone}", zone)
        return f"{violation_label(v)} · {zone_label}"

    def reviewed(n: int) -> str:
        return t("dash.reviewed", n=n)

    activity = [LedgerEntryPublic.model_validate(e) for e in queries.recent_activity(session)]

    return render(
        request,
        state,
        "dashboard.html",
        principal=principal,
        days=days,
        day_choices=DASH_DAYS,
        per_day=stacked_days(s.days, s.per_day, VIOLATIONS, violation_label, t("dash.total")),
        per_camera=rate_bars(s.per_camera, str, reviewed) if s.per_camera else None,
        per_rule=rate_bars(s.per_rule, rule_label, reviewed) if s.per_rule else None,
        per_class=rate_bars(s.per_class, str, reviewed) if s.per_class else None,
        activity=activity,
    )


# --- errors as pages ------------------------------------------------------------------------------


def _page_error(request: Request, status_code: int, message: str) -> Response:
    state = request.app.state.nce
    return render(request, state, "error.html", principal=None, status_code=status_code, message=message)


async def on_csrf(request: Request, exc: Exception) -> Response:
    lang, _ = request_lang(request)
    return _page_error(request, 403, translate(lang, "err.csrf"))


async def on_login_required(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        params = {"next": target}
        if getattr(exc, "expired", False):
            params["expired"] = "1"
        return _redirect(f"/login?{urlencode(params)}")
    lang, _ = request_lang(request)
    return _page_error(request, 401, translate(lang, "login.expired"))


async def on_not_for_console(request: Request, exc: Exception) -> Response:
    lang, _ = request_lang(request)
    role = exc.role if isinstance(exc, NotForConsole) else "?"
    return _page_error(request, 403, translate(lang, "err.forbidden", role=role))


HANDLERS = {CsrfRejected: on_csrf, NotForConsole: on_not_for_console, LoginRequired: on_login_required}


def install(app: FastAPI) -> None:
    """Add the console's pages, ``/static`` and its error pages to ``app``."""
    from service.console import account, case_more, labelling  # they import this module's helpers

    app.include_router(router)
    app.include_router(account.router)  # /account/password
    app.include_router(case_more.router)  # /cases/{id}/events, /cases/{id}/ledger
    app.include_router(labelling.router)  # /label
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for handlers in (HANDLERS, account.HANDLERS):
        for exc_type, handler in handlers.items():
            app.add_exception_handler(exc_type, handler)
