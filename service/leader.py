"""One replica at a time runs the periodic jobs (deadline sweeper, checkpoints, fleet down-sweeper).

Every ``nce serve`` replica is stateless apart from PostgreSQL and the evidence store, so the
replicas elect a leader for the jobs that must run once: :class:`Leadership` holds a PostgreSQL
session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own for as long as it
leads. The others try again every period (:func:`run_periodic`); a replica that dies, or whose
connection drops, releases the lock with its connection and another one takes over at its next
try. On SQLite there is one process: it always leads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from service.errors import ServiceError

log = logging.getLogger(__name__)

# the advisory lock's key: "nce" + "lead" in ASCII, one key for every periodic job of the service
LEADER_KEY = 0x6E63656C656164


class Leadership:
    """Whether this replica leads; :meth:`lead` (re)tries the lock and says whether it holds it."""

    def __init__(self, engine: Engine, *, gauge: Gauge | None = None, key: int = LEADER_KEY) -> None:
        self.engine = engine
        self.key = key
        self.gauge = gauge
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        self._single = engine.dialect.name != "postgresql"
        self._set(self._single)

    def _set(self, leading: bool) -> None:
        if self.gauge is not None:
            self.gauge.set(1 if leading else 0)

    @property
    def leading(self) -> bool:
        return self._single or self._conn is not None

    def lead(self) -> bool:
        """Hold the lock if this replica has it or can take it now; check that a held one is alive."""
        if self._single:
            return True
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    return True
                except SQLAlchemyError:
                    log.warning("lost the leader's database connection: no longer leading")
                    self._drop()
            try:
                conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except SQLAlchemyError:
                log.warning("cannot reach the database to try for leadership", exc_info=True)
                return False
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            except SQLAlchemyError:
                conn.invalidate()
                conn.close()
                return False
            if not got:
                conn.close()
                return False
            self._conn = conn
            self._set(True)
            log.info("this replica now leads the periodic jobs")
            return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._set(False)
        if conn is not None:
            try:
                conn.invalidate()  # never back to the pool: the lock goes with the closed connection
                conn.close()
            except SQLAlchemyError:
                pass

    def release(self) -> None:
        """Give the lock up (the app stops); another replica takes over at its next try."""
        with self._mutex:
            if self._conn is not None:
                with contextlib.suppress(SQLAlchemyError):
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._drop()
        self._set(self._single)


def run_periodic(
    name: str,
    interval_s: float,
    job: Callable[[], None],
    *,
    leadership: Leadership,
    stop: threading.Event,
    ran: Callable[[], None] | None = None,
) -> None:
    """Every ``interval_s`` until ``stop``: run ``job`` if this replica leads (else try again next
    period). A job's database or service error is logged and the loop goes on."""
    while not stop.wait(interval_s):
        if not leadership.lead():
            continue
        try:
            job()
        except (SQLAlchemyError, ServiceError):
            log.exception("%s failed", name)
            continue
        if ran is not None:
            ran()
