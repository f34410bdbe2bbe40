"""Who may use the console, and CSRF protection for its forms.

Sign-in is the service's own: the signed ``nce_session`` cookie set by ``identities.login`` (the same
function ``POST /api/v1/auth/login`` uses), resolved by :func:`service.api.deps.current_principal`.
Only people reviewing cases (``auth.REVIEW``: operator, supervisor, admin) get pages; a device or a
case system gets 403, an anonymous browser is sent to the sign-in page.

CSRF: two layers.

1. The session cookie is ``SameSite=Strict`` (set by the service), so a cross-site form post arrives
   without it.
2. A token in a hidden ``csrf`` field of every form, bound to the session: signed in, it is
   ``HMAC(secret, "csrf" + session token)`` — a token from one session fails on every other one and
   dies with its session. Not signed in (the sign-in form), it is a random value signed with the
   secret, double-submitted: the same value in the ``nce_csrf`` cookie. The cookie holds the token
   of the latest page (``SameSite=Strict``, HttpOnly). When the browser sends ``Origin`` (or,
   failing that, ``Referer``) it must be this host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session

from service import auth
from service.api.deps import current_principal
from service.auth import Principal
from service.cookies import CSRF_COOKIE, SESSION_COOKIE, request_session_token
from service.errors import Unauthorized
from service.security import sign, unsign
from service.settings import Settings
from service.state import AppState

CSRF_FIELD = "csrf"
CONSOLE_ROLES = auth.REVIEW


class LoginRequired(Exception):
    """No valid session: the console answers with the sign-in page (a redirect for GET)."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign in")
        self.expired = expired


class NotForConsole(Exception):
    """Signed in, but the role may not use the console (a device, a case system)."""

    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


class CsrfRejected(Exception):
    """A form post without a matching token or from another origin."""


class PasswordChangeRequired(Exception):
    """Signed in with a password an admin reset: the console answers with the change-password page."""


def principal_of(
    request: Request, state: AppState, session: Session, *, allow_password_change: bool = False
) -> Principal:
    """The signed-in principal (cookie, or a bearer token) allowed to use the console; one whose
    password was reset may only change it (``allow_password_change``: the page that does)."""
    header = request.headers.get("authorization")
    bearer = None
    if header:
        scheme, credentials = get_authorization_scheme_param(header)
        if scheme.lower() == "bearer" and credentials:
            bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        principal = current_principal(state, session, bearer, cookie)
    except Unauthorized as exc:
        raise LoginRequired(expired=bool(cookie)) from exc
    if principal.role not in CONSOLE_ROLES:
        raise NotForConsole(principal.role)
    if principal.must_change_password and not allow_password_change:
        raise PasswordChangeRequired()
    return principal


def _session_bound(secret: str, session_token: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), b"nce-csrf\x00" + session_token.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()


def csrf_token(request: Request, settings: Settings) -> tuple[str, bool]:
    """The token for the request's forms; the flag says the ``nce_csrf`` cookie must be (re)set."""
    current = request.cookies.get(CSRF_COOKIE)
    session = request_session_token(request, settings)
    if session is not None:
        token = _session_bound(settings.secret_key, session)
        return token, current != token
    if current and unsign(settings.secret_key, current) is not None:
        return current, False
    return sign(settings.secret_key, secrets.token_urlsafe(24)), True


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        # browsers send Origin on every POST; its absence means a non-browser client (no CSRF risk),
        # "null" (sandboxed or privacy-stripped) is refused
        return source != "null"
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.netloc.lower() == host.lower()


def check_csrf(
    request: Request, settings: Settings, submitted: str | None, *, signing_in: bool = False
) -> None:
    """Refuse a form post without the right token. Signed in, the token is the session's; the
    sign-in form (``signing_in``) also takes the signed double-submit token of the page it came from
    (a sign-in page opened before another tab signed in)."""
    if not submitted:
        raise CsrfRejected("missing token")
    accepted: list[str] = []
    session = request_session_token(request, settings)
    if session is not None:
        accepted.append(_session_bound(settings.secret_key, session))
    if session is None or signing_in:
        cookie = request.cookies.get(CSRF_COOKIE)
        if cookie and unsign(settings.secret_key, cookie) is not None:
            accepted.append(cookie)
    if not accepted:
        raise CsrfRejected("missing or unsigned token")
    if not any(hmac.compare_digest(token.encode(), submitted.encode()) for token in accepted):
        raise CsrfRejected("token mismatch")
    if not _same_origin(request):
        raise CsrfRejected("cross-origin post")
