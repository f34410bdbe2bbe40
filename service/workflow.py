"""The case state machine and what a new sighting does to a case.

::

    draft ──confirm──▶ confirmed ──notice──▶ notice_issued ──cleared, no sighting after deadline──▶ corrected
      │                   │                        └──────sighting after the deadline──────▶ escalated
      └──dismiss──▶ dismissed                                                                   │
                          └────────────────────export────────────────────▶ exported ◀──export──┘

A new confirmed hit joins an *open* case of the same shop (or the same camera and zone when there is
no shop) and violation; otherwise it opens a new draft.
"""

from __future__ import annotations

import datetime as dt

from service.errors import Conflict
from service.models import Case, utcnow

# events that mean "the violation is (still) there"
SIGHTING_EVENTS: frozenset[str] = frozenset({"opened", "confirmed", "still_present"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"confirmed", "dismissed"}),
    "confirmed": frozenset({"notice_issued", "exported"}),
    "notice_issued": frozenset({"corrected", "escalated"}),
    "escalated": frozenset({"exported"}),
    "dismissed": frozenset(),
    "corrected": frozenset(),
    "exported": frozenset(),
}


def can_move(status: str, to: str) -> bool:
    return to in TRANSITIONS.get(status, frozenset())


def move(case: Case, to: str, now: dt.datetime) -> str:
    """Change the case's status or raise :class:`Conflict`; return the old status."""
    if not can_move(case.status, to):
        raise Conflict(f"case {case.id} is {case.status}; it cannot become {to}")
    old = case.status
    case.status = to
    case.updated_at = now
    return old


def add_flag(case: Case, flag: str) -> None:
    if flag not in case.flags:
        case.flags = [*case.flags, flag]


def apply_sighting(
    case: Case, *, event: str, ts: dt.datetime, first_seen: dt.datetime, last_seen: dt.datetime
) -> str | None:
    """Fold one hit event into the case; return the status it moved to (escalated/corrected) or None."""
    case.first_seen = min(case.first_seen, first_seen)
    case.last_seen = max(case.last_seen, last_seen)
    if event in SIGHTING_EVENTS:
        case.sightings += 1
        if case.cleared_at is not None and ts > case.cleared_at:
            case.cleared_at = None  # it came back
        if case.notice_deadline is not None and ts > case.notice_deadline:
            case.last_seen_after_deadline = max(ts, case.last_seen_after_deadline or ts)
            if case.status == "notice_issued":
                move(case, "escalated", utcnow())
                return "escalated"
    elif event == "cleared":
        case.cleared_at = ts
        if case.status == "notice_issued":
            return settle_deadline(case, now=ts)
    return None


def settle_deadline(case: Case, *, now: dt.datetime) -> str | None:
    """After the deadline: corrected when cleared after the notice and not seen since the deadline."""
    if case.status != "notice_issued" or case.notice_deadline is None or now < case.notice_deadline:
        return None
    if case.last_seen_after_deadline is not None:
        move(case, "escalated", now)
        return "escalated"
    if (
        case.cleared_at is not None
        and case.notice_issued_at is not None
        and case.cleared_at >= case.notice_issued_at
    ):
        move(case, "corrected", now)
        return "corrected"
    return None
