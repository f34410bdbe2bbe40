"""The server's clock decides; a device's clock only says when something was seen.

A time a device sends (an event's ``ts``, ``first_seen``, ``last_seen``; a manifest's ``created_at``
and event times) may lie at most :data:`MAX_AHEAD_S` ahead of the server's clock: clocks drift, but
a time further ahead is a wrong clock or a forged claim, and the request is refused (422, naming the
field). Deadlines are settled by the sweeper on the server's clock (:mod:`service.workflow`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final

from nce.times import utc_ms
from service.errors import Invalid

MAX_AHEAD_S: Final = 300

_UNITS: Final = ((86400, "day", "days"), (3600, "h", "h"), (60, "min", "min"), (1, "s", "s"))


def _span(seconds: float) -> str:
    """``30 days``, ``2 h``, ``6 min``, ``42 s``: the largest unit that fits, rounded."""
    size, one, many = next((unit for unit in _UNITS if seconds >= unit[0]), _UNITS[-1])
    n = round(seconds / size)
    return f"{n} {one if n == 1 else many}"


def check_not_ahead(times: Iterable[tuple[str, dt.datetime | None]], *, now: dt.datetime) -> None:
    """Raise :class:`Invalid` naming the first field more than :data:`MAX_AHEAD_S` after ``now``."""
    for field, value in times:
        if value is None:
            continue
        ahead = (value - now).total_seconds()
        if ahead > MAX_AHEAD_S:
            raise Invalid(
                f"{field}: {utc_ms(value)} is {_span(ahead)} ahead of the server clock; "
                f"at most {MAX_AHEAD_S} s allowed"
            )
