"""The case statuses: the one definition of the vocabulary and of its named subsets.

:data:`CaseStatus` is the type (API schemas, filters); :data:`CASE_STATUSES` is derived from it, so
the two cannot drift. The state machine over these statuses is :mod:`service.workflow`.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

CaseStatus = Literal["draft", "confirmed", "dismissed", "notice_issued", "corrected", "escalated", "exported"]
CASE_STATUSES: Final[tuple[CaseStatus, ...]] = get_args(CaseStatus)

# a new hit of the same shop (or camera and zone) and violation joins a case in one of these
OPEN_STATUSES: Final[tuple[CaseStatus, ...]] = ("draft", "confirmed", "notice_issued", "escalated")
# reviewed and confirmed (confirmed and everything after it): what a case system may see and export,
# what counts as an earlier offence of a shop, what the console counts as a confirmed alarm
REVIEWED_STATUSES: Final[tuple[CaseStatus, ...]] = (
    "confirmed",
    "notice_issued",
    "corrected",
    "escalated",
    "exported",
)
