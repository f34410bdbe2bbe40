"""Score-threshold proposals, the reading: reviewed cases as :class:`service.thresholds.Review` rows.

Read-only. A case counts when it is confirmed (or anything after: :data:`REVIEWED_STATUSES`), or
dismissed with its latest review flagged ``false_detection`` (the ledger's ``case_reviewed`` entry);
a dismissal as 非违规 (``not_violation``) does not. The deciding object is the one of the case's first
signed package (as the dashboard's per-class rates count it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.case_status import REVIEWED_STATUSES
from service.models import Case, HitEventRow, LedgerEntry
from service.thresholds import Proposal, Review, ThresholdRules, propose


def _false_detections(session: Session, case_ids: list[int]) -> set[int]:
    """Of these dismissed cases, those whose latest review flagged a false detection."""
    if not case_ids:
        return set()
    latest: dict[int, Any] = {}
    rows = session.execute(
        select(LedgerEntry.case_id, LedgerEntry.payload)
        .where(LedgerEntry.action == "case_reviewed", LedgerEntry.case_id.in_(case_ids))
        .order_by(LedgerEntry.seq)
    )
    for case_id, payload in rows:
        latest[int(case_id)] = payload
    return {c for c, p in latest.items() if isinstance(p, dict) and p.get("false_detection") is True}


def _current(conf: float | None, min_score: float | None) -> float | None:
    known = [x for x in (conf, min_score) if x is not None]
    return max(known) if known else None


def reviews(session: Session, *, since: dt.datetime) -> list[Review]:
    """The reviewed cases first seen since ``since`` that say something about the detector."""
    cases = session.execute(
        select(Case.id, Case.status, Case.first_seen).where(
            Case.first_seen >= since, Case.status.in_([*REVIEWED_STATUSES, "dismissed"])
        )
    ).all()
    confirmed = {int(i): first for i, status, first in cases if status in REVIEWED_STATUSES}
    dismissed = {int(i): first for i, status, first in cases if status == "dismissed"}
    false = _false_detections(session, sorted(dismissed))
    counted = {**confirmed, **{i: dismissed[i] for i in false}}
    if not counted:
        return []
    firsts = (
        select(func.min(HitEventRow.id))
        .where(HitEventRow.case_id.in_(sorted(counted)), HitEventRow.seq.is_not(None))
        .group_by(HitEventRow.case_id)
    )
    m = HitEventRow.manifest
    rows = session.execute(
        select(
            HitEventRow.case_id,
            HitEventRow.camera_id,
            HitEventRow.violation,
            m[("event", "label")].as_string(),
            m[("event", "score")].as_float(),
            m[("model", "conf")].as_float(),
            m[("rule", "min_score")].as_float(),
        ).where(HitEventRow.id.in_(firsts))
    ).all()
    out: list[Review] = []
    for case_id, camera_id, violation, label, score, conf, min_score in rows:
        if label is None or score is None:
            continue
        out.append(
            Review(
                case_id=int(case_id),
                camera_id=str(camera_id),
                label=str(label),
                score=float(score),
                confirmed=int(case_id) in confirmed,
                at=counted[int(case_id)],
                violation=str(violation),
                current=_current(conf, min_score),
            )
        )
    return out


def camera_devices(session: Session, camera_ids: Iterable[str]) -> dict[str, str]:
    """camera → the device of its latest hit event (the box whose remote settings reach the camera)."""
    ids = sorted(set(camera_ids))
    if not ids:
        return {}
    latest = (
        select(func.max(HitEventRow.id)).where(HitEventRow.camera_id.in_(ids)).group_by(HitEventRow.camera_id)
    )
    rows = session.execute(
        select(HitEventRow.camera_id, HitEventRow.device_id).where(HitEventRow.id.in_(latest))
    )
    return {str(camera_id): str(device_id) for camera_id, device_id in rows}


def proposals(session: Session, rules: ThresholdRules, *, now: dt.datetime) -> list[Proposal]:
    """The proposals over the last ``rules.days`` days."""
    since = now - dt.timedelta(days=rules.days)
    return propose(reviews(session, since=since), rules, now=now)
