"""Read-only queries the console needs beyond the API's (counts, thumbnails, neighbours, statistics).

Nothing here changes a row: every action goes through :mod:`service.crud.case_actions`, so the ledger
records it exactly as it records the API's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.case_status import REVIEWED_STATUSES
from service.models import Case, EvidenceFile, HitEventRow, LedgerEntry, Shop


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Case.status, func.count()).group_by(Case.status)).all()
    return {str(status): int(n) for status, n in rows}


def camera_ids(session: Session) -> list[str]:
    return [
        str(c) for c in session.execute(select(Case.camera_id).distinct().order_by(Case.camera_id)).scalars()
    ]


def shop_names(session: Session, shop_ids: set[str]) -> dict[str, str]:
    if not shop_ids:
        return {}
    rows = session.execute(select(Shop.shop_id, Shop.name).where(Shop.shop_id.in_(sorted(shop_ids)))).all()
    return {str(s): str(n) for s, n in rows}


def _thumb_rank(f: EvidenceFile) -> tuple[int, int]:
    # the object's crop first: in a whole frame at thumbnail size it is a few pixels
    role = {"crop": 0, "still_annotated": 1, "still_raw": 2}.get(f.role, 9)
    moment = 0 if "confirmed" in f.name else 1
    return role, moment


def thumbnails(session: Session, case_ids: list[int]) -> dict[int, str]:
    """case id → SHA-256 of its thumbnail: the object's crop from the latest package, else its best
    still (annotated, from the confirming moment)."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(HitEventRow.case_id, HitEventRow.id, EvidenceFile)
        .join(EvidenceFile, EvidenceFile.event_id == HitEventRow.id)
        .where(
            HitEventRow.case_id.in_(case_ids),
            HitEventRow.event != "public_copy",
            EvidenceFile.role.in_(["still_annotated", "still_raw", "crop"]),
        )
    ).all()
    best: dict[int, tuple[tuple[int, int, int], str]] = {}
    for case_id, event_id, f in rows:
        if case_id is None:
            continue
        role, moment = _thumb_rank(f)
        rank = (role, moment, -int(event_id))
        if case_id not in best or rank < best[case_id][0]:
            best[case_id] = (rank, f.sha256)
    return {k: v[1] for k, v in best.items()}


def neighbours(session: Session, *, case_id: int, status: str | None) -> tuple[int | None, int | None]:
    """(previous, next) in queue order (newest first): the next newer and the next older case."""
    newer = select(func.min(Case.id)).where(Case.id > case_id)
    older = select(func.max(Case.id)).where(Case.id < case_id)
    if status:
        newer = newer.where(Case.status == status)
        older = older.where(Case.status == status)
    return session.execute(newer).scalar_one_or_none(), session.execute(older).scalar_one_or_none()


def manifests(session: Session, event_ids: list[int]) -> dict[int, dict[str, Any]]:
    """hit event id → the manifest as received (signed packages only)."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(HitEventRow.id, HitEventRow.manifest).where(
            HitEventRow.id.in_(event_ids), HitEventRow.manifest.is_not(None)
        )
    ).all()
    return {int(i): dict(m) for i, m in rows if isinstance(m, dict)}


# --- the dashboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    key: str
    reviewed: int
    confirmed: int

    @property
    def rate(self) -> float:
        return self.confirmed / self.reviewed if self.reviewed else 0.0


@dataclass(frozen=True)
class Stats:
    days: list[dt.date]
    per_day: dict[dt.date, dict[str, int]]  # day → violation → cases
    per_camera: list[Rate]
    per_rule: list[Rate]  # key "violation|zone_kind"
    per_class: list[Rate]  # key: the detector class of the deciding object


def _rates(counts: dict[str, list[int]]) -> list[Rate]:
    rates = [Rate(k, v[0], v[1]) for k, v in counts.items() if v[0] > 0]
    return sorted(rates, key=lambda r: (r.rate, -r.reviewed, r.key))


def stats(session: Session, *, days: int, tz: ZoneInfo, now: dt.datetime) -> Stats:
    """Cases per local day per violation, and confirm rates, for cases first seen in the window."""
    today = now.astimezone(tz).date()
    first_day = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    cases = session.execute(
        select(Case.id, Case.first_seen, Case.violation, Case.status, Case.camera_id).where(
            Case.first_seen >= start
        )
    ).all()
    day_list = [first_day + dt.timedelta(days=i) for i in range(days)]
    per_day: dict[dt.date, dict[str, int]] = {d: defaultdict(int) for d in day_list}
    per_camera: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    status_of: dict[int, str] = {}
    for case_id, first_seen, violation, status, camera in cases:
        day = first_seen.astimezone(tz).date()
        if day in per_day:
            per_day[day][str(violation)] += 1
        if status == "draft":
            continue
        status_of[int(case_id)] = str(status)
        per_camera[str(camera)][0] += 1
        per_camera[str(camera)][1] += status in REVIEWED_STATUSES
    per_rule: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    if status_of:
        # the rule and the object that decided the case: its first signed package
        firsts = (
            select(func.min(HitEventRow.id))
            .where(HitEventRow.case_id.in_(list(status_of)), HitEventRow.seq.is_not(None))
            .group_by(HitEventRow.case_id)
        )
        rows = session.execute(
            select(
                HitEventRow.case_id,
                HitEventRow.violation,
                HitEventRow.manifest[("zone", "kind")].as_string(),
                HitEventRow.manifest[("event", "label")].as_string(),
            ).where(HitEventRow.id.in_(firsts))
        ).all()
        for case_id, violation, zone_kind, label in rows:
            ok = status_of[int(case_id)] in REVIEWED_STATUSES
            for table, key in ((per_rule, f"{violation}|{zone_kind or '?'}"), (per_class, label or "?")):
                table[key][0] += 1
                table[key][1] += ok
    return Stats(
        days=day_list,
        per_day={d: dict(v) for d, v in per_day.items()},
        per_camera=_rates(per_camera),
        per_rule=_rates(per_rule),
        per_class=_rates(per_class),
    )


# what people and deadlines did to cases (not the stream of incoming packages)
ACTIVITY_ACTIONS = (
    "case_reviewed",
    "review_reverted",
    "notice_issued",
    "case_corrected",
    "case_escalated",
    "case_exported",
)


def recent_activity(session: Session, *, limit: int = 20) -> list[LedgerEntry]:
    """The latest reviews (and reverted ones), notices, deadline outcomes and exports, newest first."""
    return list(
        session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.action.in_(ACTIVITY_ACTIONS))
            .order_by(LedgerEntry.seq.desc())
            .limit(limit)
        ).scalars()
    )
