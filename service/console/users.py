"""User management (用户管理, ``/admin/users``, admins only): the people (:func:`service.accounts.list_users`),
add one (:func:`service.crud.identities.add_user`), disable or enable one
(:func:`service.accounts.set_user_enabled`), reset a password (:func:`service.accounts.reset_password`:
a one-time temporary password, shown in the answer to that post and never again). Every form carries
the CSRF field; every change is the data function's own ledger entry, naming the admin. Operators and
supervisors get 403.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from service import accounts
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.deps import FormStr, Operator, redirect
from service.console.guard import check_csrf
from service.console.messages import translate
from service.console.render import render, request_lang
from service.crud.identities import add_user
from service.errors import Conflict, Invalid, NotFound
from service.passwords import MIN_LENGTH
from service.schemas.common import USER_ROLES
from service.state import AppState

router = APIRouter(include_in_schema=False)
PAGE = "/admin/users"
ADMIN = "admin"
Username = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


def users_response(
    request: Request,
    state: AppState,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
    temporary: tuple[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    lang, _ = request_lang(request)
    if principal.role != ADMIN:
        message = translate(lang, "users.forbidden", role=principal.role)
        return render(request, state, "error.html", principal=principal, status_code=403, message=message)
    q = request.query_params
    flash = None
    if q.get("done") in ("added", "disabled", "enabled") and q.get("user"):
        flash = translate(lang, f"users.done.{q['done']}", user=q["user"][:64], n=q.get("n", "0")[:6])
    return render(
        request,
        state,
        "users.html",
        principal=principal,
        status_code=status_code,
        users=accounts.list_users(session),
        roles=USER_ROLES,
        error=error,
        flash=flash,
        temporary=temporary,
        min_length=MIN_LENGTH,
        form=form or {},
    )


@router.get(PAGE)
def users_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    return users_response(request, state, session, principal)


def _done(what: str, user: str, n: int = 0) -> Response:
    return redirect(f"{PAGE}?{urlencode({'done': what, 'user': user, 'n': n})}")


@router.post(PAGE)
def add(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
    username: FormStr = "",
    role: FormStr = "",
    password: FormStr = "",
    repeat: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    form = {"username": username[:64], "role": role[:32]}

    def fail(message: str, status_code: int) -> Response:
        session.rollback()
        return users_response(
            request, state, session, principal, error=message, status_code=status_code, form=form
        )

    if principal.role != ADMIN:
        return users_response(request, state, session, principal)
    if password != repeat:
        return fail(translate(lang, "users.err.mismatch"), 422)
    try:
        add_user(session, username=username.strip(), role=role, password=password, actor=principal.actor)
    except Conflict:
        return fail(translate(lang, "users.err.exists", user=username.strip()[:64]), 409)
    except Invalid as exc:
        return fail(translate(lang, "users.err.invalid", detail=str(exc)[:200]), 422)
    return _done("added", username.strip())


def _change(
    request: Request,
    state: AppState,
    session: Session,
    principal: Principal,
    username: str,
    csrf: str,
    what: str,
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    if principal.role != ADMIN:
        return users_response(request, state, session, principal)
    if what == "disable" and username == principal.name:
        return users_response(
            request, state, session, principal, error=translate(lang, "users.err.self"), status_code=409
        )
    try:
        if what == "reset":
            temporary = accounts.reset_password(
                session, username=username, password=None, actor=principal.actor
            )
            return users_response(request, state, session, principal, temporary=(username, temporary))
        ended = accounts.set_user_enabled(
            session, username=username, enabled=what == "enable", actor=principal.actor
        )
    except NotFound:
        session.rollback()
        return users_response(
            request, state, session, principal,
            error=translate(lang, "users.err.not_found", user=username), status_code=404,
        )  # fmt: skip
    return _done("enabled" if what == "enable" else "disabled", username, ended)


@router.post(PAGE + "/{username}/disable")
def disable(
    username: Username, request: Request, state: StateDep, session: SessionDep, principal: Operator,
    csrf: FormStr = "",
) -> Response:  # fmt: skip
    return _change(request, state, session, principal, username, csrf, "disable")


@router.post(PAGE + "/{username}/enable")
def enable(
    username: Username, request: Request, state: StateDep, session: SessionDep, principal: Operator,
    csrf: FormStr = "",
) -> Response:  # fmt: skip
    return _change(request, state, session, principal, username, csrf, "enable")


@router.post(PAGE + "/{username}/reset")
def reset(
    username: Username, request: Request, state: StateDep, session: SessionDep, principal: Operator,
    csrf: FormStr = "",
) -> Response:  # fmt: skip
    return _change(request, state, session, principal, username, csrf, "reset")
