"""Sign-in for operators: a bearer token and the same value as a signed session cookie."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service.api.deps import SESSION_COOKIE, CurrentPrincipal, SessionDep, StateDep
from service.crud import identities
from service.schemas.auth import LoginIn, LoginOut, PrincipalPublic
from service.security import sign

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/login", response_model=LoginOut, responses={401: {"description": "wrong username or password"}}
)
def login(data: LoginIn, response: Response, state: StateDep, session: SessionDep) -> LoginOut:
    """Argon2id password check. The cookie is HttpOnly and SameSite=Strict (no cross-site posts)."""
    token, expires, principal = identities.login(
        session, username=data.username, password=data.password, ttl_s=state.settings.session_ttl_s
    )
    response.set_cookie(
        SESSION_COOKIE,
        sign(state.settings.secret_key, token),
        max_age=state.settings.session_ttl_s,
        httponly=True,
        samesite="strict",
        secure=state.settings.cookie_secure,
        path="/",
    )
    return LoginOut(
        access_token=token,
        expires_at=expires,
        principal=PrincipalPublic(kind=principal.kind, name=principal.name, role=principal.role),  # type: ignore[arg-type]
    )


@router.post("/logout", status_code=204, response_class=Response)
def logout(principal: CurrentPrincipal, session: SessionDep) -> Response:
    identities.logout(session, principal=principal)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=PrincipalPublic)
def me(principal: CurrentPrincipal) -> PrincipalPublic:
    return PrincipalPublic(kind=principal.kind, name=principal.name, role=principal.role)  # type: ignore[arg-type]
