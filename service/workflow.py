"""The case state machine, what a hit event does to a case, and who settles a notice's deadline.

::

    draft ──confirm──▶ confirmed ──notice──▶ notice_issued ──signed clearance, quiet after deadline──▶ corrected
      │                   │                        └──signed sighting after the deadline──▶ escalated
      └──dismiss──▶ dismissed                                                                   │
                          └────────────────────export────────────────────▶ exported ◀──export──┘

A supervisor may revert a review (confirmed or dismissed → draft) while nothing followed it and
within the service's window (:data:`REVERTS`, :mod:`service.crud.review_revert`).

A new confirmed hit joins an *open* case of the same shop (or the same camera and zone when there is
no shop) and violation; otherwise it opens a new draft (:mod:`service.filing`).

Who decides: a person reviews and gives notice (:mod:`service.crud.case_actions`); a notice's deadline is
settled by the sweeper alone, on the server's clock (:func:`settle_deadline`). A hit event only
records evidence for the sweeper, and only a signed one does:

- a device's time counts no later than the package's arrival (``min(own time, received_at)``), so
  "after the deadline" means dated after it AND received after it;
- a signed sighting (``last_seen``, and the time of a sighting event) after the deadline sets
  ``last_seen_after_deadline``: the sweeper escalates;
- a signed ``cleared`` package after the notice sets ``cleared_at`` unless it is dated before the
  deadline but arrived after it (a late or back-dated proof: a person decides); with no signed
  sighting after the deadline the sweeper corrects.

Unsigned events (``POST /api/v1/hits/events``) update sightings, ``first_seen`` and ``last_seen``:
never a status, never evidence for a deadline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from service.case_status import CaseStatus
from service.errors import Conflict
from service.models import Case

# events that mean "the violation is (still) there"
SIGHTING_EVENTS: Final[frozenset[str]] = frozenset({"opened", "confirmed", "still_present"})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "draft": frozenset({"confirmed", "dismissed"}),
    "confirmed": frozenset({"notice_issued", "exported"}),
    "notice_issued": frozenset({"corrected", "escalated"}),
    "escalated": frozenset({"exported"}),
    "dismissed": frozenset(),
    "corrected": frozenset(),
    "exported": frozenset(),
}


# a review undone: back to draft, only before anything followed it (a notice, an export)
REVERTS: Final[dict[str, str]] = {"confirmed": "draft", "dismissed": "draft"}


def revert(case: Case, now: dt.datetime) -> str:
    """Put a reviewed case back to draft or raise :class:`Conflict`; return the old status."""
    to = REVERTS.get(case.status)
    if to is None:
        raise Conflict(
            f"case {case.id} is {case.status}; only a confirmed or dismissed case that nothing followed "
            "can have its review reverted"
        )
    old = case.status
    case.status = to
    case.updated_at = now
    return old


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


@dataclass(frozen=True)
class Sighting:
    """One hit event as a case sees it: the device's times, the server's time of arrival, and
    whether it came in a signed package."""

    event: str  # opened | confirmed | still_present | cleared
    ts: dt.datetime
    first_seen: dt.datetime
    last_seen: dt.datetime
    received_at: dt.datetime
    signed: bool

    def counted(self, device_time: dt.datetime) -> dt.datetime:
        """A device's time as evidence: no later than the arrival (a clock running ahead gains nothing)."""
        return min(device_time, self.received_at)

    @property
    def seen(self) -> dt.datetime:
        """When the object was last seen, as evidence."""
        seen = self.last_seen if self.event not in SIGHTING_EVENTS else max(self.ts, self.last_seen)
        return self.counted(seen)


def apply_sighting(case: Case, s: Sighting) -> None:
    """Fold one hit event into the case. Never changes the status (see :func:`settle_deadline`)."""
    case.first_seen = min(case.first_seen, s.first_seen)
    case.last_seen = max(case.last_seen, s.last_seen)
    if s.event in SIGHTING_EVENTS:
        case.sightings += 1
    if not s.signed:
        return  # unsigned: sightings and times only
    deadline = case.notice_deadline
    if s.event in SIGHTING_EVENTS and case.cleared_at is not None and s.seen > case.cleared_at:
        case.cleared_at = None  # it came back
    if deadline is not None and s.seen > deadline:
        case.last_seen_after_deadline = max(s.seen, case.last_seen_after_deadline or s.seen)
    if s.event == "cleared":
        cleared = s.counted(s.ts)
        late = deadline is not None and cleared <= deadline < s.received_at
        if not late:
            case.cleared_at = cleared


def settle_deadline(case: Case, *, now: dt.datetime) -> CaseStatus | None:
    """The sweeper's decision, ``now`` being the server's clock: after the deadline, escalated when
    a signed sighting came after it, corrected when a signed clearance came after the notice."""
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
