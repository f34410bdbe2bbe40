"""Who may use the console, and CSRF protection for its forms.

Sign-in is the service's own: the signed ``nce_session`` cookie set by ``identities.login`` (the same
function ``POST /api/v1/auth/login`` uses), resolved by :func:`service.api.deps.current_principal`.
Only people reviewing cases (``auth.REVIEW``: operator, supervisor, admin) get pages; a device or a
case system gets 403, an anonymous browser is sent to the sign-in page.

CSRF: two layers.

1. The session cookie is ``SameSite=Strict`` (set by the service), so a cross-site form post arrives
   without it.
2. Signed double-submit token: a random value signed with the service's secret lives in the
   ``nce_csrf`` cookie (``SameSite=Strict``, HttpOnly) and in a hidden ``csrf`` field of every form;
   a post is refused unless both are present, equal and carry a valid signature. When the browser
   sends ``Origin`` (or, failing that, ``Referer``) it must be this host.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session

from service import auth
from service.api.deps import SESSION_COOKIE, current_principal
from service.auth import Principal
from service.errors import Unauthorized
from service.security import sign, unsign
from service.state import AppState

CSRF_COOKIE = "nce_csrf"
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


def csrf_token(request: Request, secret: str) -> tuple[str, bool]:
    """The request's valid token, or a new one; the flag says the cookie must be (re)set."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and unsign(secret, current) is not None:
        return current, False
    return sign(secret, secrets.token_urlsafe(24)), True


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        # browsers send Origin on every POST; its absence means a non-browser client (no CSRF risk),
        # "null" (sandboxed or privacy-stripped) is refused
        return source != "null"
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.netloc.lower() == host.lower()


def check_csrf(request: Request, secret: str, submitted: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or unsign(secret, cookie) is None:
        raise CsrfRejected("missing or unsigned token")
    if not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfRejected("token mismatch")
    if not _same_origin(request):
        raise CsrfRejected("cross-origin post")
