"""The hit-event contract, one definition for both sides.

The edge writes each :class:`HitEvent` as a line of ``hits.jsonl`` and sends it to the service
(``POST /api/v1/hits/events``); the service validates the same type. Its words (``Violation``,
``EventKind``) are :mod:`nce.vocabulary`'s. Only pydantic here: no numpy, no FastAPI.
"""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

from nce.times import utc_ms
from nce.vocabulary import EventKind, Violation

__all__ = ["HitEvent"]


class HitEvent(BaseModel):
    """One hit event: a line of ``hits.jsonl`` and the body of ``POST /api/v1/hits/events``.

    Unsigned: on the service it updates the sightings of a hit's case but never files a case and
    never attaches evidence; only signed packages (``POST /api/v1/hits``) do.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: EventKind
    hit_id: str = Field(min_length=1, max_length=128)
    site_id: str = Field(min_length=1, max_length=64)
    camera_id: str = Field(min_length=1, max_length=64)
    zone_id: str = Field(min_length=1, max_length=64)
    shop_id: str | None = Field(max_length=64)
    violation: Violation
    track_id: int | None
    label: str = Field(max_length=64)
    score: float = Field(ge=0.0, le=1.0)
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in frame pixels")
    ts: AwareDatetime = Field(description="frame time of this event, UTC")
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    dwell_s: float = Field(ge=0.0, description="presence so far, occlusion gaps included")
    sightings: int = Field(ge=0, description="samples in which the object was in the zone")

    @field_serializer("ts", "first_seen", "last_seen")
    def _ser_time(self, value: dt.datetime) -> str:
        return utc_ms(value)
