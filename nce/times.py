"""The one way NCE writes a point in time: UTC ISO 8601 with milliseconds and a ``Z``.

Manifests, hit events, ledger entries and alerts all hash or compare these strings, so they must come
from one function: ``2026-11-26T08:00:00.123Z``.
"""

from __future__ import annotations

import datetime as dt


def utc_ms(t: dt.datetime) -> str:
    """``t`` (timezone-aware) as UTC ISO 8601 with milliseconds and ``Z``; a naive time is refused."""
    if t.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {t!r}")
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc_ms(value: str) -> dt.datetime:
    """The aware datetime of a time written by :func:`utc_ms` (or any ISO 8601 time with an offset)."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
