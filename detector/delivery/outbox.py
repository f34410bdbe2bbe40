"""The edge outbox: SQLite store-and-forward of hit events and evidence packages.

Every hit event and package is written here (``synchronous=FULL``, WAL) before it counts as
produced; the :class:`~detector.delivery.relay.Relay` sends items to the case service in sequence
order and marks one delivered only on a 2xx. An item's idempotency key is ``<device id>:<epoch>:<seq>``: a retry
after a crash or a lost response is recognised by the service, never filed twice. The epoch is drawn
once when the outbox file is created, so an outbox that is lost and recreated (numbering from 1 again)
never reuses a key the service has already stored for another payload. (Outboxes created before the
epoch existed keep their keys ``<device id>:<seq>``, so items already sent replay under the same key.)

States: ``pending`` → ``delivered`` (2xx) | ``poisoned`` (a 4xx the service will never accept, or
the same 5xx answer ``uplink.poison_after_5xx`` times in a row; set aside with its reason and the
service's last answer, retried only by ``nce outbox retry-poisoned``).

The outbox is the one owner of "delivered": the evidence quota asks :meth:`Outbox.is_delivered`
before it deletes a package. Delivered rows are forgotten after 30 days, but a delivered package
whose folder is still on disk stays known (table ``delivered_package``) until the folder is gone.

The items and answers it holds are :mod:`~detector.delivery.outbox_items`; the file's tables, and
how an older file is brought up to date, :mod:`~detector.delivery.outbox_schema`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from detector.delivery.outbox_items import (
    Answer,
    ItemKind,
    ItemStatus,
    OutboxItem,
    OutboxStatus,
    answer_columns,
    item_of_row,
    poisoned_view,
)
from detector.delivery.outbox_schema import connect, create_or_upgrade
from detector.errors import DetectorError


class OutboxError(DetectorError):
    """The outbox database cannot be opened or written."""


class Outbox:
    """A durable queue in one SQLite file; safe to share between the pipeline and the relay thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.changed = threading.Event()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = connect(self.path)
            with self._tx() as conn:
                self.epoch = create_or_upgrade(conn)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc
        except OutboxError as exc:  # from _tx: say it as an open failure, with SQLite's reason
            raise OutboxError(f"cannot open the outbox {self.path}: {exc.__cause__}") from exc.__cause__

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise OutboxError(f"outbox {self.path}: {exc}") from exc
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- producing -------------------------------------------------------------------------------

    def add(
        self,
        *,
        device_id: str,
        kind: ItemKind,
        hit_id: str,
        event: str,
        payload: dict[str, Any],
        package_dir: Path | None = None,
    ) -> int:
        """Queue one item durably; returns its sequence number. Package files must be fsynced first."""
        if kind == "package" and package_dir is None:
            raise OutboxError("a package item needs its package directory")
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO outbox (device_id, kind, hit_id, event, payload, package_dir, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    kind,
                    hit_id,
                    event,
                    json.dumps(payload, ensure_ascii=False, sort_keys=True),
                    str(package_dir) if package_dir else None,
                    time.time(),
                ),
            )
            seq = int(cur.lastrowid or 0)
        self.changed.set()
        return seq

    # -- relaying --------------------------------------------------------------------------------

    def head(self) -> OutboxItem | None:
        """The oldest pending item (the relay sends strictly in sequence order)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM outbox WHERE status = 'pending' ORDER BY seq LIMIT 1"
            ).fetchone()
        return item_of_row(row, self.epoch) if row else None

    def mark_delivered(self, seq: int, response: dict[str, Any] | None = None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?, response = ?, last_error = NULL "
                "WHERE seq = ?",
                (time.time(), json.dumps(response, ensure_ascii=False) if response else None, seq),
            )

    def mark_retry(
        self,
        seq: int,
        *,
        error: str,
        next_attempt_at: float,
        answer: Answer | None = None,
        answer_repeats: int = 0,
    ) -> None:
        """One more failed attempt: why, when to try again, and the service's answer (``None``
        when there was none to keep) with how many times in a row it came."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
                "answer_status = ?, answer_body = ?, answer_digest = ?, answer_repeats = ? WHERE seq = ?",
                (error, next_attempt_at, *answer_columns(answer), answer_repeats, seq),
            )

    def mark_poisoned(
        self, seq: int, *, reason: str, answer: Answer | None = None, answer_repeats: int = 0
    ) -> None:
        """Set the item aside for good (until ``retry-poisoned``), with the reason and the answer."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET status = 'poisoned', attempts = attempts + 1, last_error = ?, "
                "answer_status = ?, answer_body = ?, answer_digest = ?, answer_repeats = ? WHERE seq = ?",
                (reason, *answer_columns(answer), answer_repeats, seq),
            )

    def retry_poisoned(self) -> int:
        """Put every poisoned item back in the queue, its count of repeated answers reset; returns
        how many."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = 0, answer_status = NULL, "
                "answer_body = NULL, answer_digest = NULL, answer_repeats = 0 WHERE status = 'poisoned'"
            )
            count = cur.rowcount
        self.changed.set()
        return count

    def reset_backoff(self) -> int:
        """Make every pending item due now (a fresh start tries the queue at once); returns how many."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE outbox SET next_attempt_at = 0 WHERE status = 'pending' AND next_attempt_at > 0"
            )
            count = cur.rowcount
        self.changed.set()
        return count

    def prune_delivered(self, older_than_s: float, now: float | None = None) -> int:
        """Forget delivered items older than ``older_than_s``; returns how many. A forgotten
        package whose folder is still on disk stays known as delivered (the quota may prune it,
        recovery never queues it again) until the folder is gone. Sequence numbers are never
        reused (AUTOINCREMENT)."""
        cutoff = (time.time() if now is None else now) - older_than_s
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT package_dir, delivered_at FROM outbox "
                "WHERE status = 'delivered' AND delivered_at < ? AND package_dir IS NOT NULL",
                (cutoff,),
            ).fetchall()
            conn.executemany(
                "INSERT OR IGNORE INTO delivered_package (package_dir, delivered_at) VALUES (?, ?)",
                [(r[0], r[1]) for r in rows if Path(r[0]).is_dir()],
            )
            gone = [
                (r[0],)
                for r in conn.execute("SELECT package_dir FROM delivered_package").fetchall()
                if not Path(r[0]).is_dir()
            ]
            conn.executemany("DELETE FROM delivered_package WHERE package_dir = ?", gone)
            cur = conn.execute(
                "DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ?", (cutoff,)
            )
            return cur.rowcount

    def remember_delivered(self, package_dir: Path, delivered_at: float | None = None) -> bool:
        """Record a package delivered outside this outbox's rows (a delivered marker of an earlier
        version); ``False`` when the outbox knew it already."""
        with self._tx() as conn:
            known = conn.execute(
                "SELECT 1 FROM outbox WHERE package_dir = ? UNION ALL "
                "SELECT 1 FROM delivered_package WHERE package_dir = ?",
                (str(package_dir), str(package_dir)),
            ).fetchone()
            if known is not None:
                return False
            conn.execute(
                "INSERT INTO delivered_package (package_dir, delivered_at) VALUES (?, ?)",
                (str(package_dir), time.time() if delivered_at is None else delivered_at),
            )
            return True

    # -- reporting -------------------------------------------------------------------------------

    def undelivered(self, now: float | None = None) -> tuple[int, int, float | None]:
        """(pending, poisoned, age of the oldest pending) — cheap: never counts delivered rows."""
        now = time.time() if now is None else now
        with self._lock:
            counts = dict(
                self._conn.execute(
                    "SELECT status, COUNT(*) FROM outbox WHERE status IN ('pending', 'poisoned') "
                    "GROUP BY status"
                ).fetchall()
            )
            oldest = self._conn.execute(
                "SELECT MIN(created_at) FROM outbox WHERE status = 'pending'"
            ).fetchone()[0]
        age = None if oldest is None else max(0.0, now - oldest)
        return counts.get("pending", 0), counts.get("poisoned", 0), age

    def package_dirs(self) -> set[str]:
        """Every package folder the outbox knows (any state, forgotten delivered ones included),
        as stored."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT package_dir FROM outbox WHERE package_dir IS NOT NULL "
                "UNION SELECT package_dir FROM delivered_package"
            ).fetchall()
        return {r[0] for r in rows}

    def status(self, now: float | None = None) -> OutboxStatus:
        now = time.time() if now is None else now
        with self._lock:
            counts = dict(
                self._conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
            )
            oldest = self._conn.execute(
                "SELECT MIN(created_at) FROM outbox WHERE status = 'pending'"
            ).fetchone()[0]
        poisoned = self.items("poisoned") if counts.get("poisoned", 0) else []
        return OutboxStatus(
            pending=counts.get("pending", 0),
            delivered=counts.get("delivered", 0),
            poisoned=counts.get("poisoned", 0),
            oldest_pending_s=None if oldest is None else max(0.0, now - oldest),
            poisoned_items=[poisoned_view(i) for i in poisoned],
        )

    def items(self, status: ItemStatus | None = None) -> list[OutboxItem]:
        with self._lock:
            if status is None:
                rows = self._conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT * FROM outbox WHERE status = ? ORDER BY seq", (status,)
                ).fetchall()
        return [item_of_row(r, self.epoch) for r in rows]

    def is_delivered(self, package_dir: Path) -> bool:
        """Whether the service has this package: every outbox item of it was delivered, or it was
        delivered and its rows are forgotten. The evidence quota prunes only such packages."""
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT COUNT(*), SUM(status = 'delivered') FROM outbox WHERE package_dir = ?",
                    (str(package_dir),),
                ).fetchone()
                total, delivered = row[0], row[1] or 0
                if total:
                    return bool(total == delivered)
                kept = self._conn.execute(
                    "SELECT 1 FROM delivered_package WHERE package_dir = ?", (str(package_dir),)
                ).fetchone()
        except sqlite3.Error as exc:  # closed at shutdown, or unreadable
            raise OutboxError(f"outbox {self.path}: {exc}") from exc
        return kept is not None
