"""Sign-in: the one path for the API (``POST /api/v1/auth/login``) and the console (``POST /login``).

1. The sign-in waits for a slot of the hash gate (:mod:`service.hash_gate`): a full queue or a long
   wait is 503 with ``Retry-After``, before any other work (no thread, no database).
2. In the slot (a worker thread; only ``login_hash_slots`` of them ever serve sign-ins), a locked
   username or client address is refused: 429 with ``Retry-After`` and no password checked, so
   the right password is refused too (:mod:`service.crud.throttle`).
3. Otherwise the password is checked, and a wrong one is counted against the username and the
   address; the failure that reaches a limit is already answered 429. A right password forgets the
   username's failures.

Every lockout is logged (WARNING) and counted in ``nce_login_lockouts_total{scope}``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.exc import OperationalError

from service.auth import Principal
from service.crud import identities, throttle
from service.db import DatabaseError
from service.errors import TooManyRequests, Unauthorized
from service.models import utcnow
from service.state import AppState

log = logging.getLogger(__name__)

_WHAT = {"account": "this username", "address": "this address"}


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: dt.datetime
    principal: Principal


def client_address(request: Request) -> str:
    """The caller's address (behind a trusted proxy: the one in X-Forwarded-For, see service.server)."""
    return request.client.host if request.client else "unknown"


def _refusal(lockout: throttle.Lockout) -> TooManyRequests:
    return TooManyRequests(
        f"too many wrong passwords for {_WHAT[lockout.scope]}; sign-in is locked, "
        f"try again in {lockout.retry_after} s",
        retry_after=lockout.retry_after,
    )


async def sign_in(state: AppState, *, username: str, password: str, address: str) -> SignedIn:
    """Check the password and open a session, or raise 401 / 429 / 503 (see the module's doc)."""
    keys = [throttle.account_key(username), throttle.address_key(address)]
    policy = throttle.Policy.of(state.settings)
    metrics = state.metrics

    def attempt() -> SignedIn:
        try:
            return _attempt()
        except OperationalError as exc:  # as service.api.deps.get_session does for every route
            raise DatabaseError(f"database unavailable: {type(exc.orig).__name__}; retry") from exc

    def _attempt() -> SignedIn:
        with state.sessions() as session:
            held = throttle.active_lockout(session, keys, utcnow())
            if held is not None:
                metrics.logins.labels("locked").inc()
                raise _refusal(held)
            session.rollback()
            try:
                token, expires, principal = identities.login(
                    session, username=username, password=password, ttl_s=state.settings.session_ttl_s
                )
            except Unauthorized:
                session.rollback()
                metrics.logins.labels("wrong").inc()
                begun = throttle.record_failure(session, keys, policy, utcnow())
                for lock in begun:
                    metrics.login_lockouts.labels(lock.scope).inc()
                    log.warning(
                        "sign-in: %r locked for %d s after too many wrong passwords (from %s)",
                        lock.key,
                        lock.seconds,
                        address,
                    )
                if begun:
                    raise _refusal(max(begun, key=lambda b: b.retry_after)) from None
                raise
            throttle.forget(session, keys[0])
            metrics.logins.labels("ok").inc()
            return SignedIn(token, expires, principal)

    return await state.hash_gate.run(attempt)
