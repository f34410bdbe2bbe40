"""The service's cookies, in one place: the session cookie (set by the API's and the console's
sign-in, read by :func:`service.api.deps.current_principal`) and the console's CSRF cookie.

Both are ``HttpOnly``, ``SameSite=Strict`` and ``Secure`` outside demo mode
(:attr:`service.settings.Settings.secure_cookies`; ``NCE_COOKIE_SECURE`` overrides). The session
cookie is the session token HMAC-signed with ``NCE_SECRET_KEY``.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from service.security import sign, unsign
from service.settings import Settings

SESSION_COOKIE = "nce_session"
CSRF_COOKIE = "nce_csrf"


def set_session(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sign(settings.secret_key, token),
        max_age=settings.session_ttl_s,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=settings.secure_cookies
    )


def session_token(settings: Settings, cookie: str | None) -> str | None:
    """The session token in a session cookie whose signature is valid, else None (not checked
    against the database: :func:`service.api.deps.current_principal` does that)."""
    return unsign(settings.secret_key, cookie) if cookie else None


def request_session_token(request: HTTPConnection, settings: Settings) -> str | None:
    return session_token(settings, request.cookies.get(SESSION_COOKIE))


def set_csrf(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, value, httponly=True, samesite="strict", secure=settings.secure_cookies, path="/"
    )
