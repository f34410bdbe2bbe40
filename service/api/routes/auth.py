"""Sign-in for operators: a bearer token and the same value as a signed session cookie."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service import cookies
from service.api.deps import CurrentPrincipal, SessionDep, StateDep
from service.crud import identities
from service.schemas.auth import LoginIn, LoginOut, PrincipalPublic
from service.signin import client_address, sign_in

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "wrong username or password"},
    413: {"description": "the body is larger than the sign-in limit (NCE_MAX_LOGIN_BYTES)"},
    429: {"description": "too many wrong passwords for this username or address: locked (Retry-After)"},
    503: {"description": "too many sign-ins at once (Retry-After)"},
}


@router.post("/login", response_model=LoginOut, responses=_LOGIN_RESPONSES)
async def login(data: LoginIn, request: Request, response: Response, state: StateDep) -> LoginOut:
    """Argon2id password check. The cookie is HttpOnly, SameSite=Strict (no cross-site posts) and
    Secure outside demo mode. Wrong passwords lock the username and the client address for a while
    (429 with Retry-After, even for the right password then)."""
    done = await sign_in(
        state, username=data.username, password=data.password, address=client_address(request)
    )
    cookies.set_session(response, state.settings, done.token)
    principal = done.principal
    return LoginOut(
        access_token=done.token,
        expires_at=done.expires_at,
        principal=PrincipalPublic(kind=principal.kind, name=principal.name, role=principal.role),  # type: ignore[arg-type]
    )


@router.post("/logout", status_code=204, response_class=Response)
def logout(principal: CurrentPrincipal, session: SessionDep, state: StateDep) -> Response:
    identities.logout(session, principal=principal)
    response = Response(status_code=204)
    cookies.clear_session(response, state.settings)
    return response


@router.get("/me", response_model=PrincipalPublic)
def me(principal: CurrentPrincipal) -> PrincipalPublic:
    return PrincipalPublic(kind=principal.kind, name=principal.name, role=principal.role)  # type: ignore[arg-type]
