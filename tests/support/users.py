"""People of the case service for tests: a user row with a signed-in session, straight into the
database (Argon2 is slow on purpose: callers hash the password once per run and pass the hash)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session

from service.models import AuthSession, User
from service.security import new_token, token_hash


def add_user(sessions: Callable[[], Session], *, role: str, username: str, password_hash: str) -> str:
    """Add a user with ``role`` and a session valid for an hour; the session's bearer token."""
    token = new_token("user")
    with sessions() as s:
        user = User(username=username, role=role, password_hash=password_hash)
        s.add(user)
        s.flush()
        s.add(
            AuthSession(
                user_id=user.id,
                token_hash=token_hash(token),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            )
        )
        s.commit()
    return token
