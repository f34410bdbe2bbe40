"""Reviews per operator for the dashboard: from the ledger's ``case_reviewed`` entries of the last
:data:`DAYS` days (the ledger names who reviewed and when, and a later re-review cannot rewrite it):
reviews today (the console's local day) and in the window, confirmed and dismissed, and the median
time from the case's creation to its review."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Case, LedgerEntry

DAYS = 7


@dataclass(frozen=True)
class Throughput:
    actor: str  # as the ledger names them: user:alice
    today: int
    week: int
    confirmed: int
    dismissed: int
    median_s: float | None  # case created → reviewed


def per_operator(session: Session, *, tz: ZoneInfo, now: dt.datetime) -> list[Throughput]:
    """One row per reviewer of the window, the busiest first."""
    today = now.astimezone(tz).date()
    first_day = today - dt.timedelta(days=DAYS - 1)
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    rows = session.execute(
        select(LedgerEntry.actor, LedgerEntry.ts, LedgerEntry.payload["to"].as_string(), Case.created_at)
        .join(Case, Case.id == LedgerEntry.case_id, isouter=True)
        .where(LedgerEntry.action == "case_reviewed", LedgerEntry.ts >= start)
    ).all()
    counts: dict[str, list[int]] = {}
    waits: dict[str, list[float]] = {}
    for actor, ts, to, created in rows:
        c = counts.setdefault(str(actor), [0, 0, 0, 0])
        ts = ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
        c[0] += ts.astimezone(tz).date() == today
        c[1] += 1
        c[2] += to == "confirmed"
        c[3] += to == "dismissed"
        if created is not None:
            created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
            waits.setdefault(str(actor), []).append(max(0.0, (ts - created).total_seconds()))
    out = [
        Throughput(a, c[0], c[1], c[2], c[3], statistics.median(waits[a]) if waits.get(a) else None)
        for a, c in counts.items()
    ]
    return sorted(out, key=lambda r: (-r.week, r.actor))
