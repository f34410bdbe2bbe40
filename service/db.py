"""Engines and sessions.

SQLite runs in WAL mode with a busy timeout. Reads begin a plain (deferred) transaction and never
block writers; a write transaction starts with :func:`begin_write`, which on SQLite begins
``IMMEDIATE`` so that writers queue instead of failing on a read-to-write upgrade. PostgreSQL
serialises appends through a row lock on the ledger head (see :mod:`service.ledger`).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from service.errors import Unavailable


class DatabaseError(Unavailable):
    """The database cannot be reached or used (503: the client retries)."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {url!r}") from exc
    if is_sqlite(url):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=8,
            max_overflow=32,
        )
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # a 2xx means on disk: the edge may prune
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # Writers of this process queue on a lock that hands over at once, instead of on SQLite's busy
    # handler, which polls with sleeps of up to 100 ms and lets unlucky writers starve (p99).
    # Other processes (nce admin) still meet SQLite's own lock and busy timeout.
    writer = threading.Lock()
    _WRITER_LOCKS[engine] = writer

    def _release(conn: Any) -> None:
        if conn.info.pop(_HOLDS_LOCK, False):
            writer.release()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if not conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN")
            return
        if writer.acquire(timeout=60):
            conn.info[_HOLDS_LOCK] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


_WRITE = "nce_write"
_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def writer_lock_held(engine: Engine) -> bool:
    """Whether a write transaction of this process holds the SQLite writer lock (tests, metrics)."""
    lock = _WRITER_LOCKS.get(engine)
    return lock is not None and lock.locked()


_HOLDS_LOCK = "nce_holds_writer_lock"


def begin_write(session: Session) -> None:
    """Make the session's transaction a write transaction; call it before the first write.

    On SQLite a read transaction already open is ended first (nothing is pending in it by contract)
    and the new one begins ``IMMEDIATE``; elsewhere this does nothing.
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.connection().get_execution_options().get(_WRITE):
            return
        session.rollback()
    session.connection(execution_options={_WRITE: True})


def make_sessionmaker(engine: Engine, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """Sessions of ``engine``; ``info`` is in every session's ``info`` (e.g. the ledger lock's timer)."""
    return sessionmaker(engine, expire_on_commit=False, info=info)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
