"""How long one ingest holds the ledger lock, and how many SQL statements it sends while holding it:
one device, packages posted one after another (no contention), straight into
:func:`service.crud.ingest.ingest_package` on a fresh PostgreSQL database (NCE_TEST_PG) with the
local evidence store. Every hold is timed exactly (not in histogram buckets).

    python -m benchmarks.probe_lock_hold [--packages 60] [--size 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from nce.manifest import GENESIS_HASH, manifest_hash, public_key_b64, utc_ms
from service.auth import Principal
from service.crud.identities import add_device
from service.crud.ingest import MANIFEST_PART, Part, ingest_package
from service.db import make_engine
from service.evidence_store import LocalEvidenceStore
from service.ledger import LOCK_TIMER
from tests.support.delivery import make_device
from tests.support.manifests import event_info, make_signed
from tests.support.postgres import migrated_database
from tests.support.replicas import package_files


class Timer:
    """A :class:`service.ledger.LockTimer` that keeps every hold and counts statements while held."""

    def __init__(self) -> None:
        self.holds: list[float] = []
        self.statements: list[int] = []
        self.held_now = False
        self.count = 0
        self.sql_s = 0.0  # time in statements during the current hold
        self.sql: list[float] = []  # per hold: seconds in statements
        self.tails: list[float] = []  # per hold: from the last statement's end to the release (COMMIT)
        self.last_end = 0.0
        self.texts: list[str] = []  # the statements of the last hold

    def waited(self, seconds: float) -> None:
        self.held_now, self.count, self.sql_s, self.texts = True, 0, 0.0, []
        self.last_end = time.perf_counter()

    def held(self, seconds: float) -> None:
        self.holds.append(seconds)
        self.statements.append(self.count)
        self.sql.append(self.sql_s)
        self.tails.append(time.perf_counter() - self.last_end)
        self.held_now = False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packages", type=int, default=60)
    ap.add_argument("--size", type=int, default=1_000_000)
    args = ap.parse_args()
    timer = Timer()
    with tempfile.TemporaryDirectory() as tmp, migrated_database("nce_probe_lock") as url:
        engine = make_engine(url)

        started: list[float] = [0.0]

        @event.listens_for(engine, "before_cursor_execute")
        def _count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            started[0] = time.perf_counter()
            if timer.held_now:
                timer.count += 1
                timer.texts.append(" ".join(statement.split())[:90])

        @event.listens_for(engine, "after_cursor_execute")
        def _took(*_a: Any) -> None:
            if timer.held_now:
                timer.last_end = time.perf_counter()
                timer.sql_s += timer.last_end - started[0]

        store = LocalEvidenceStore(Path(tmp) / "store")
        device = make_device(Path(tmp), "probe-01")
        with Session(engine) as s:
            add_device(s, device_id=device.id, public_key=public_key_b64(device.key.public_key()).encode(),
                       actor="probe")  # fmt: skip
        principal = Principal(kind="device", name=device.id, role="device")
        prev = GENESIS_HASH
        t0 = dt.datetime(2026, 11, 26, 2, tzinfo=dt.UTC)
        took = []
        for seq in range(1, args.packages + 1):
            files = package_files(seq, args.size)
            ts = utc_ms(t0 + dt.timedelta(minutes=seq))
            m = make_signed(device.key, sequence=seq, prev_hash=prev, device_id=device.id,
                            package_id=f"{device.id}-{seq:08d}-violation",
                            event=event_info(hit_id=f"hit-{seq % 7}", first_seen=ts, ts=ts),
                            files=files, shop_id="shop-1")  # fmt: skip
            prev = manifest_hash(m)
            parts = [Part(MANIFEST_PART, "manifest.json", "application/json", m.model_dump_json().encode())]
            parts += [Part(n, n, mime, data) for n, (_r, mime, data) in files.items()]
            with Session(engine, info={LOCK_TIMER: timer}) as s:
                start = time.perf_counter()
                ingest_package(s, store=store, principal=principal, key=f"k-{seq}", parts=parts)
                took.append(time.perf_counter() - start)
        engine.dispose()
    holds = timer.holds[1:]  # the first warms the caches
    q = statistics.quantiles(holds, n=100)
    print(
        f"{len(holds)} packages of {args.size / 1e6:g} MB: lock hold p50 {q[49] * 1000:.2f} ms, "
        f"p99 {q[98] * 1000:.2f} ms, mean {statistics.mean(holds) * 1000:.2f} ms; "
        f"statements under the lock {min(timer.statements[1:])}..{max(timer.statements[1:])}; "
        f"whole ingest p50 {statistics.median(took[1:]) * 1000:.1f} ms"
    )
    med = statistics.median
    print(
        f"hold composition (medians): in statements {med(timer.sql[1:]) * 1000:.2f} ms, "
        f"last statement to release (COMMIT) {med(timer.tails[1:]) * 1000:.2f} ms, "
        f"the rest (Python between statements) "
        f"{(med(holds) - med(timer.sql[1:]) - med(timer.tails[1:])) * 1000:.2f} ms"
    )
    print("statements under the lock (last package):")
    for t in timer.texts:
        print("  ", t)


if __name__ == "__main__":
    main()
