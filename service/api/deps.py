"""Dependencies as ``Annotated`` aliases that build on each other.

``StateDep`` → ``SessionDep`` → ``CurrentPrincipal`` → role aliases (``Reviewer``, ``Exporter``, …).
A principal comes from ``Authorization: Bearer <token>`` (devices, client systems, users) or from the
signed session cookie set by ``POST /api/v1/auth/login`` (users in the console).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service import auth
from service.auth import Principal
from service.cookies import SESSION_COOKIE, session_token
from service.crud.identities import principal_for_token
from service.db import DatabaseError
from service.errors import Forbidden, Unauthorized
from service.state import AppState

_bearer = HTTPBearer(auto_error=False, description="device, client or user token")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="console session")


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.nce
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session for the request. A database that cannot be reached or is locked (SQLAlchemy's
    OperationalError) becomes a 503 here, the one place where that error is translated."""
    session = state.sessions()
    try:
        yield session
    except OperationalError as exc:
        raise DatabaseError(f"database unavailable: {type(exc.orig).__name__}; retry") from exc
    finally:
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def current_principal(
    state: StateDep,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    token: str | None = None
    if bearer is not None:
        token = bearer.credentials
    elif cookie:
        token = session_token(state.settings, cookie)
        if token is None:
            raise Unauthorized("session cookie is not valid; sign in again")
    if not token:
        raise Unauthorized("sign in: send Authorization: Bearer <token> or the session cookie")
    principal = principal_for_token(session, token)
    session.rollback()  # end the read transaction (SQLite: releases the write lock)
    if principal is None:
        raise Unauthorized("token is not valid (unknown, revoked or expired)")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(roles: frozenset[str]) -> Callable[[Principal], Principal]:
    def check(principal: CurrentPrincipal) -> Principal:
        if principal.must_change_password:
            raise Forbidden("the password was reset: change it first (POST /api/v1/auth/password)")
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role} may not do this (allowed: {', '.join(sorted(roles))})")
        return principal

    return check


Device = Annotated[Principal, Depends(require(auth.INGEST))]
CaseReader = Annotated[Principal, Depends(require(auth.READ_CASES))]
Reviewer = Annotated[Principal, Depends(require(auth.REVIEW))]
NoticeIssuer = Annotated[Principal, Depends(require(auth.NOTICE))]
Reverter = Annotated[Principal, Depends(require(auth.REVERT))]
Exporter = Annotated[Principal, Depends(require(auth.EXPORT))]
ShopReader = Annotated[Principal, Depends(require(auth.SHOPS_READ))]
ShopWriter = Annotated[Principal, Depends(require(auth.SHOPS_WRITE))]
LedgerReader = Annotated[Principal, Depends(require(auth.LEDGER))]
FrameReader = Annotated[Principal, Depends(require(auth.FRAMES_READ))]
Labeller = Annotated[Principal, Depends(require(auth.FRAMES_LABEL))]
FrameAdder = Annotated[Principal, Depends(require(auth.FRAMES_ADD))]
MaskReader = Annotated[Principal, Depends(require(auth.MASKS_READ))]
MaskDecider = Annotated[Principal, Depends(require(auth.MASKS_DECIDE))]
ThresholdReader = Annotated[Principal, Depends(require(auth.THRESHOLDS_READ))]
ModelReader = Annotated[Principal, Depends(require(auth.MODELS_READ))]
ModelAdder = Annotated[Principal, Depends(require(auth.MODELS_ADD))]
ModelFetcher = Annotated[Principal, Depends(require(auth.MODELS_FETCH))]
RolloutManager = Annotated[Principal, Depends(require(auth.ROLLOUT))]
