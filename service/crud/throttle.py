"""Failed sign-ins, counted per username and per client address in the database.

The policy (:class:`Policy`, from the settings): ``account_failures`` wrong passwords for one
username, or ``address_failures`` from one client address, within ``window_s`` lock that key for
``lockout_s``; each further lockout of the same key doubles, up to ``lockout_max_s``. A key is
forgotten ``window_s`` after its last failure (or after its lockout ended). While a key is locked no
password is checked at all, so the right password is refused too.

The counts live in the database, not in the process, so that N stateless service replicas on one
PostgreSQL count together. A failure locks the key's row (``INSERT … ON CONFLICT DO NOTHING`` then
``SELECT … FOR UPDATE``; on SQLite the write transaction is ``IMMEDIATE``), so concurrent failures
are all counted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.db import begin_write
from service.models import LoginThrottle
from service.settings import Settings

Scope = Literal["account", "address"]


@dataclass(frozen=True)
class Policy:
    account_failures: int
    address_failures: int
    window_s: int
    lockout_s: int
    lockout_max_s: int

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            account_failures=settings.login_account_failures,
            address_failures=settings.login_address_failures,
            window_s=settings.login_window_s,
            lockout_s=settings.login_lockout_s,
            lockout_max_s=settings.login_lockout_max_s,
        )

    def limit(self, scope: Scope) -> int:
        return self.account_failures if scope == "account" else self.address_failures

    def lockout(self, nth: int) -> int:
        """The length of the ``nth`` lockout (1, 2, …) of a key, in seconds."""
        doubled: int = self.lockout_s << min(nth - 1, 20)
        return min(doubled, self.lockout_max_s)


@dataclass(frozen=True)
class Lockout:
    key: str
    scope: Scope
    retry_after: int  # seconds until the key is unlocked
    seconds: int = 0  # the lockout's length, when it just began


def account_key(username: str) -> str:
    return f"account:{username[:64]}"


def address_key(address: str) -> str:
    """An IPv4 address as it is; an IPv6 address by its /64 (one host holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"address:{address[:64]}"
    if ip.version == 6:
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


def scope_of(key: str) -> Scope:
    return "account" if key.startswith("account:") else "address"


def _seconds(until: dt.datetime, now: dt.datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def active_lockout(session: Session, keys: list[str], now: dt.datetime) -> Lockout | None:
    """The lockout that lasts longest among ``keys``, or None. Reads only."""
    rows = (
        session.execute(
            select(LoginThrottle).where(LoginThrottle.key.in_(keys), LoginThrottle.locked_until > now)
        )
        .scalars()
        .all()
    )
    locks = [(row.locked_until, row.key) for row in rows if row.locked_until is not None]
    if not locks:
        return None
    until, key = max(locks, key=lambda lock: lock[0])
    return Lockout(key, scope_of(key), _seconds(until, now))


def _insert_missing(session: Session, keys: list[str], policy: Policy, now: dt.datetime) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = [
        {
            "key": key,
            "failures": 0,
            "window_start": now,
            "lockouts": 0,
            "locked_until": None,
            "expires_at": now + dt.timedelta(seconds=policy.window_s),
        }
        for key in keys
    ]
    session.execute(insert(LoginThrottle).values(values).on_conflict_do_nothing(index_elements=["key"]))


def record_failure(session: Session, keys: list[str], policy: Policy, now: dt.datetime) -> list[Lockout]:
    """Count a wrong password against every key; return the lockouts that begin now. Commits."""
    keys = sorted(set(keys))  # one lock order for every caller: no deadlocks between replicas
    window = dt.timedelta(seconds=policy.window_s)
    begin_write(session)
    _insert_missing(session, keys, policy, now)
    rows = (
        session.execute(
            select(LoginThrottle)
            .where(LoginThrottle.key.in_(keys))
            .order_by(LoginThrottle.key)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    begun: list[Lockout] = []
    for row in rows:
        if row.expires_at <= now:  # forgotten: a fresh start
            row.failures, row.lockouts, row.locked_until, row.window_start = 0, 0, None, now
        elif row.window_start + window <= now:
            row.failures, row.window_start = 0, now
        row.failures += 1
        scope = scope_of(row.key)
        if row.failures >= policy.limit(scope):
            row.lockouts += 1
            seconds = policy.lockout(row.lockouts)
            row.locked_until = now + dt.timedelta(seconds=seconds)
            row.failures, row.window_start = 0, now
            begun.append(Lockout(row.key, scope, seconds, seconds))
        row.expires_at = max(row.window_start, row.locked_until or row.window_start) + window
    session.execute(delete(LoginThrottle).where(LoginThrottle.expires_at <= now))
    session.commit()
    return begun


def forget(session: Session, key: str) -> None:
    """A right password: the username's failures are forgiven (the address's are not). Commits."""
    begin_write(session)
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
    session.commit()
