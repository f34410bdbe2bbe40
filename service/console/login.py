"""The console's sign-in and sign-out (``/login``, ``/logout``).

The same sign-in as the API (:func:`service.signin.sign_in`): the same lockouts and limits. After
signing in the browser goes back to the page it came from (``next``), never to another site.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from service import cookies
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.deps import FormStr, Operator, redirect
from service.console.guard import LoginRequired, NotForConsole, check_csrf, principal_of
from service.console.render import render
from service.crud import identities
from service.errors import Busy, TooManyRequests, Unauthorized
from service.signin import client_address, sign_in

router = APIRouter(include_in_schema=False)


def _optional_principal(request: Request, state: StateDep, session: SessionDep) -> Principal | None:
    try:
        return principal_of(request, state, session)
    except (LoginRequired, NotForConsole):
        return None


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never ``//host`` or a scheme) may follow sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login")
def login_page(request: Request, state: StateDep, session: SessionDep) -> Response:
    if _optional_principal(request, state, session) is not None:
        return redirect(_safe_next(request.query_params.get("next")))
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
    response = redirect(next_url)
    cookies.set_session(response, state.settings, done.token)
    return response


@router.post("/logout")
def logout(
    request: Request, state: StateDep, session: SessionDep, principal: Operator, csrf: FormStr = ""
) -> Response:
    check_csrf(request, state.settings, csrf)
    identities.logout(session, principal=principal)
    response = redirect("/login")
    cookies.clear_session(response, state.settings)
    return response
