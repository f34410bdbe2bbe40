"""Account hygiene: people (list, disable, enable, reset a password, change one's own) and case-system
clients (revoke a token, issue a new one).

Every change is a ledger entry (never a password or a token, only who, whom and what): the actor is
the signed-in person (``user:alice``) or the admin command line (``admin-cli:<OS user>``). Disabling a
person or resetting their password ends all their sessions at once; changing one's own password ends
the other sessions and keeps the one that changed it. A reset password must be changed by its owner
before anything else (:attr:`service.auth.Principal.must_change_password`). The password policy is
:mod:`service.passwords`.
"""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service import ledger
from service.auth import Principal
from service.errors import Forbidden, NotFound
from service.models import AuthSession, Client, User, utcnow
from service.passwords import check_new_password, temporary_password
from service.security import hash_password, new_token, token_hash, verify_password


def cli_actor() -> str:
    """How the ledger names the admin command line: ``admin-cli:<the OS user who ran it>``."""
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (a bare container)
        who = "unknown"
    return f"admin-cli:{who}"


@dataclass(frozen=True)
class UserRow:
    username: str
    role: str
    enabled: bool
    must_change_password: bool
    sessions: int  # sessions that have not expired
    created_at: dt.datetime


def list_users(session: Session) -> list[UserRow]:
    live = (
        select(AuthSession.user_id, func.count().label("n"))
        .where(AuthSession.expires_at > utcnow())
        .group_by(AuthSession.user_id)
        .subquery()
    )
    rows = session.execute(
        select(User, live.c.n).join(live, live.c.user_id == User.id, isouter=True).order_by(User.username)
    ).all()
    return [
        UserRow(u.username, u.role, u.enabled, u.must_change_password, int(n or 0), u.created_at)
        for u, n in rows
    ]


def _user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def _end_sessions(session: Session, user_id: int, *, keep: int | None = None) -> int:
    q = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep is not None:
        q = q.where(AuthSession.id != keep)
    return int(session.execute(q).rowcount or 0)  # type: ignore[attr-defined]


def set_user_enabled(session: Session, *, username: str, enabled: bool, actor: str) -> int:
    """Disable a person (their sessions end at once, sign-in is refused) or enable them again;
    returns how many sessions were ended. Commits."""
    ledger.lock_head(session)
    user = _user(session, username)
    user.enabled = enabled
    ended = 0 if enabled else _end_sessions(session, user.id)
    ledger.append(
        session,
        actor=actor,
        action="user_enabled" if enabled else "user_disabled",
        case_id=None,
        payload={"username": username, "sessions_ended": ended},
    )
    session.commit()
    return ended


def reset_password(session: Session, *, username: str, password: str | None, actor: str) -> str:
    """Set a person's password (``None``: a one-time temporary one) that they must change at their next
    sign-in; their sessions end. Returns the password set. Commits."""
    user = _user(session, username)
    new = password if password is not None else temporary_password()
    check_new_password(new, username=username)
    new_hash = hash_password(new)  # slow on purpose: before taking the ledger lock
    session.rollback()
    ledger.lock_head(session)
    user = _user(session, username)
    user.password_hash = new_hash
    user.must_change_password = True
    ended = _end_sessions(session, user.id)
    ledger.append(
        session,
        actor=actor,
        action="password_reset",
        case_id=None,
        payload={
            "username": username,
            "temporary": password is None,
            "must_change": True,
            "sessions_ended": ended,
        },
    )
    session.commit()
    return new


def change_password(session: Session, *, principal: Principal, current: str, new: str) -> int:
    """A signed-in person changes their own password: the current one must be right (else
    :class:`Forbidden`), the new one must pass the policy. Ends their other sessions (returns how
    many) and clears a reset's must-change mark. Commits."""
    if principal.kind != "user" or principal.user_id is None:
        raise Forbidden(f"only a person has a password; this is a {principal.kind}")
    user = session.get(User, principal.user_id)
    if user is None or not user.enabled:
        raise Forbidden("this account is disabled")
    old_hash = user.password_hash
    if not verify_password(old_hash, current):
        raise Forbidden("the current password is wrong")
    check_new_password(new, username=user.username, current=current)
    new_hash = hash_password(new)
    session.rollback()
    ledger.lock_head(session)
    user = session.get(User, principal.user_id)
    if user is None or user.password_hash != old_hash:
        raise Forbidden("the password was changed meanwhile; sign in again")
    user.password_hash = new_hash
    user.must_change_password = False
    ended = _end_sessions(session, user.id, keep=principal.session_id)
    ledger.append(
        session,
        actor=principal.actor,
        action="password_changed",
        case_id=None,
        payload={"username": user.username, "sessions_ended": ended},
    )
    session.commit()
    return ended


def _client(session: Session, name: str) -> Client:
    client = session.execute(select(Client).where(Client.name == name)).scalar_one_or_none()
    if client is None:
        raise NotFound(f"no client {name!r}")
    return client


def revoke_client(session: Session, *, name: str, actor: str) -> None:
    """Revoke a case system's token: refused from now on (401), for good (the stored hash is replaced
    by one no token has). ``new_client_token`` gives it a new one. Commits."""
    ledger.lock_head(session)
    client = _client(session, name)
    client.enabled = False
    client.token_hash = token_hash(new_token("client"))  # the old token's hash is gone
    ledger.append(session, actor=actor, action="client_revoked", case_id=None, payload={"name": name})
    session.commit()


def new_client_token(session: Session, *, name: str, actor: str) -> str:
    """Give a case system a new token (shown once, stored hashed) and enable it; the old one dies."""
    token = new_token("client")
    ledger.lock_head(session)
    client = _client(session, name)
    client.token_hash = token_hash(token)
    client.enabled = True
    ledger.append(session, actor=actor, action="client_token_issued", case_id=None, payload={"name": name})
    session.commit()
    return token
