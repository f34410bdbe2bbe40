"""The plain values that flow between edge stages after inference.

- :class:`Frame`: one decoded picture of one camera, stamped with UTC wall time and a monotonic
  clock (for files: the media position, so that a recording run faster than real time keeps its
  own timeline).
- :class:`HitEvent`: one line of ``hits.jsonl``; what rules emit and sinks consume.
- :class:`EventSink`: where hit events go (the hits file, the evidence packager, the outbox).
  Sinks are called from the pipeline's one inference thread, in order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from detector.config import Violation
from detector.detections import Detections

EventKind = Literal["opened", "confirmed", "still_present", "cleared"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame (BGR uint8) of one camera."""

    camera_id: str
    index: int
    image: npt.NDArray[np.uint8]
    utc: dt.datetime
    mono: float

    @property
    def shape_hw(self) -> tuple[int, int]:
        return (int(self.image.shape[0]), int(self.image.shape[1]))


def iso_ms(t: dt.datetime) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``: ``2026-11-26T08:00:00.123Z``."""
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HitEvent(BaseModel):
    """One hit event: the contract of a ``hits.jsonl`` line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: EventKind
    hit_id: str
    site_id: str
    camera_id: str
    zone_id: str
    shop_id: str | None
    violation: Violation
    track_id: int | None
    label: str
    score: float
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in frame pixels")
    ts: dt.datetime = Field(description="frame time of this event, UTC")
    first_seen: dt.datetime
    last_seen: dt.datetime
    dwell_s: float = Field(ge=0.0, description="presence so far, occlusion gaps included")
    sightings: int = Field(ge=0, description="samples in which the object was in the zone")

    @field_serializer("ts", "first_seen", "last_seen")
    def _ser_time(self, value: dt.datetime) -> str:
        return iso_ms(value)


RingSnapshot = Callable[[], Sequence[Frame]]


class EventSink(Protocol):
    """Receives hit events in order. ``frame``/``detections`` are the sample the event was decided
    on; ``ring`` returns the camera's recent decoded frames (pre-roll for clips) when called."""

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None: ...

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        """Called for every inferred sample of every camera (lets sinks finish clips later)."""
        ...

    def close(self) -> None:
        """Flush and release; called once at shutdown, after the last event."""
        ...
