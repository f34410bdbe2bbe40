"""The hit-event contract, one definition for both sides.

The edge writes each :class:`HitEvent` as a line of ``hits.jsonl`` and sends it to the service
(``POST /api/v1/hits/events``); the service validates the same type. Its words (``Violation``,
``EventKind``) are :mod:`nce.vocabulary`'s. Only pydantic here: no numpy, no FastAPI.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from nce.bounds import Count, HitId, Id, Index, Label, UtcTime
from nce.times import utc_ms
from nce.vocabulary import EventKind, Violation

__all__ = ["HitEvent"]


class HitEvent(BaseModel):
    """One hit event: a line of ``hits.jsonl`` and the body of ``POST /api/v1/hits/events``.

    Unsigned: on the service it updates the sightings of a hit's case but never files a case and
    never attaches evidence; only signed packages (``POST /api/v1/hits``) do.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    event: EventKind
    hit_id: HitId
    site_id: Id
    camera_id: Id
    zone_id: Id
    shop_id: Id | None
    violation: Violation
    track_id: Index | None
    label: Label
    score: float = Field(ge=0.0, le=1.0)
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in frame pixels")
    ts: UtcTime = Field(description="frame time of this event, UTC")
    first_seen: UtcTime
    last_seen: UtcTime
    dwell_s: float = Field(ge=0.0, description="presence so far, occlusion gaps included")
    sightings: Count = Field(description="samples in which the object was in the zone")

    @field_serializer("ts", "first_seen", "last_seen")
    def _ser_time(self, value: dt.datetime) -> str:
        return utc_ms(value)
