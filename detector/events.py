"""The plain values that flow between edge stages after inference.

- :class:`Frame`: one decoded picture of one camera, stamped with UTC wall time and a monotonic
  clock (for files: the media position, so that a recording run faster than real time keeps its
  own timeline).
- :class:`HitEvent`: one line of ``hits.jsonl``; what rules emit and sinks consume.
- :class:`LearningSample`: a frame picked to learn from (:mod:`detector.learning`), which the
  evidence packager writes as a signed *sample* package.
- :class:`EventSink`: where hit events go (the hits file, the evidence packager, the outbox).
  Sinks are called from the pipeline's one inference thread, in order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detector.detections import Detections
from nce.hits import HitEvent
from nce.manifest import NearMiss
from nce.times import utc_ms
from nce.vocabulary import EventKind, SampleReason

__all__ = ["EventKind", "EventSink", "Frame", "HitEvent", "LearningSample", "RingSnapshot", "utc_ms"]


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


RingSnapshot = Callable[[], Sequence[Frame]]


@dataclass(frozen=True, slots=True)
class LearningSample:
    """A frame picked to learn from, why, and what the model saw on it (masked detections left out).

    ``detections`` are those that count for the rules (tracked, scored above ``model.conf``);
    ``below`` those scored from ``score_floor`` up to ``model.conf``, seen only for learning
    (untracked). ``picked`` indexes the detections that made the frame a sample in ``detections``
    followed by ``below``; ``near_miss`` says which rule almost fired (reason ``near_miss`` only).
    """

    reason: SampleReason
    frame: Frame
    detections: Detections
    below: Detections
    picked: tuple[int, ...]
    score_floor: float
    near_miss: NearMiss | None = None


class EventSink(Protocol):
    """Receives hit events in order. ``frame``/``detections`` are the sample the event was decided
    on; ``ring`` returns the camera's recent decoded frames (pre-roll for clips) when called.

    The sinks (hits file, evidence packager, outbox, MQTT alerts) subclass it, so mypy checks that
    each has every method with the right signature; the pipeline calls the methods by name."""

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None: ...

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        """Called for every inferred sample of every camera (lets sinks finish clips later)."""
        ...

    def on_learning_sample(self, sample: LearningSample) -> None:
        """A frame picked to learn from (``learning`` in the site config); the evidence packager
        writes it as a sample package, the outbox sink hears of that package as of every other.
        The other sinks ignore it (this default)."""
        return None

    def close(self) -> None:
        """Flush and release; called once at shutdown, after the last event."""
        ...
