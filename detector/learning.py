"""Learning samples: which frames of one camera ``nce run`` sends to the frame pool, and why.

A :class:`SampleSelector` per camera (site config ``learning``, off unless ``enabled``) looks at
every sample after the rules and picks at most one frame per sample, for the first of these reasons
whose budget allows it:

1. ``near_miss`` — a zone rule almost fired, either way:

   - *score*: on an inferred frame, an object of one of the rule's classes stood in one of its zones
     (bottom-centre inside), at least ``min_area_px`` large, while the rule applied (active hours,
     no exemption), but scored below the rule's ``min_score`` (:meth:`RuleEngine.below_min_score`;
     rules with ``min_score`` 0 have no such near misses);
   - *dwell*: a hit opened and cleared without confirming (the zone was empty for ``grace_s``
     before ``min_dwell_s`` was reached: the object left too soon). The sample is the frame the
     hit opened on (the object in the zone), kept until the hit confirms or clears.

2. ``low_confidence`` — on an inferred frame, a detection scored inside ``learning.low_conf``
   ``[low, high)``. The model reports down to ``low`` when ``low`` is below ``model.conf`` (see
   :func:`detector.model_setup.detector_from_config`); those detections never reach the tracker or the
   rules (:func:`split_below`).

3. ``periodic`` — the first inferred frame of each ``periodic_every_s`` slot of the local day
   (counted from local midnight), within ``periodic_hours``: ordinary frames, with or without
   detections (negatives for the dataset).

Budget: per camera and local day (the site's time zone, by the frames' UTC time), at most
``learning.budget.<reason>`` samples for each reason and ``learning.daily_budget`` in all; both
reset at local midnight. Two ``near_miss`` (or two ``low_confidence``) samples of one camera are at
least ``min_gap_s`` of frame time apart. Masked detections (:mod:`detector.masks`) were dropped
before this stage: they never make a sample.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from detector.config import LearningSettings
from detector.detections import Detections
from detector.events import Frame, HitEvent, LearningSample
from detector.rules import ScoreMiss
from nce.manifest import NearMiss
from nce.vocabulary import SampleReason

MAX_OPENED = 64  # opened hits whose first frame a camera keeps for a dwell near miss


def split_below(detections: Detections, conf: float) -> tuple[Detections, Detections]:
    """``(counted, below)``: the detections scored above ``conf`` (the rules' threshold, as the
    model applies it) and those at or below it (seen only when the model ran lower, for learning)."""
    if not len(detections):
        return detections, detections
    above = detections.confidence > conf
    if above.all():
        return detections, Detections.empty()
    return detections[above], detections[~above]


@dataclass
class _Opened:
    """A hit's first frame, kept in case the hit clears before it confirms."""

    frame: Frame
    detections: Detections
    below: Detections
    index: int | None


class SampleSelector:
    """One camera's learning samples; see the module docstring. ``update`` once per sample, in order."""

    def __init__(
        self, camera_id: str, settings: LearningSettings, *, tz: dt.tzinfo, score_floor: float
    ) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.tz = tz
        self.score_floor = score_floor
        self.day: dt.date | None = None
        self.taken: Counter[SampleReason] = Counter()
        self.last_mono: dict[SampleReason, float] = {}
        self.periodic_slot: tuple[dt.date, int] | None = None
        self.opened: OrderedDict[str, _Opened] = OrderedDict()

    # -- the budget ----------------------------------------------------------------------------

    @property
    def budget_left(self) -> int:
        """Samples this camera may still send today, all reasons together."""
        return max(0, self.settings.daily_budget - sum(self.taken.values()))

    def left(self, reason: SampleReason) -> int:
        """Samples of ``reason`` this camera may still send today."""
        return max(0, min(self.settings.budget.of(reason) - self.taken[reason], self.budget_left))

    def _roll(self, utc: dt.datetime) -> None:
        """A new local day: the budget starts again."""
        today = utc.astimezone(self.tz).date()
        if today != self.day:
            self.day = today
            self.taken.clear()

    def _may(self, reason: SampleReason, mono: float) -> bool:
        if self.left(reason) <= 0:
            return False
        if reason == "periodic":
            return True
        last = self.last_mono.get(reason)
        return last is None or mono - last >= self.settings.min_gap_s - 1e-6

    def _take(self, sample: LearningSample, mono: float) -> LearningSample:
        self.taken[sample.reason] += 1
        self.last_mono[sample.reason] = mono
        return sample

    # -- the stage -----------------------------------------------------------------------------

    def update(
        self,
        frame: Frame,
        detections: Detections,
        below: Detections,
        events: Sequence[HitEvent],
        misses: Sequence[ScoreMiss],
        *,
        inferred: bool,
    ) -> LearningSample | None:
        """The sample this frame makes, if any (the budget is spent when it is returned).

        ``detections`` are the camera's tracked detections (those the rules saw), ``below`` the
        ones scored under ``model.conf``, ``events`` the rules' hit events of this frame, ``misses``
        the rules' score near misses (:meth:`RuleEngine.below_min_score`); ``inferred``: whether
        the model saw this frame (the others re-use the last detections, and make no sample but a
        dwell near miss)."""
        self._roll(frame.utc)
        dwell = self._dwell_misses(frame, detections, below, events)
        if dwell is not None and self._may("near_miss", frame.mono):
            return self._take(dwell, frame.mono)
        if not inferred:
            return None
        if misses and self._may("near_miss", frame.mono):
            miss = misses[0]
            near = NearMiss(zone_id=miss.zone_id, violation=miss.violation, why="score")
            sample = self._sample("near_miss", frame, detections, below, (miss.index,), near)
            return self._take(sample, frame.mono)
        if self._may("low_confidence", frame.mono):
            low, high = self.settings.low_conf
            scores = np.concatenate([detections.confidence, below.confidence])
            picked = tuple(int(i) for i in np.flatnonzero((scores >= low) & (scores < high)))
            if picked:
                return self._take(
                    self._sample("low_confidence", frame, detections, below, picked), frame.mono
                )
        slot = self._periodic_slot(frame.utc)
        if slot is not None and slot != self.periodic_slot and self._may("periodic", frame.mono):
            self.periodic_slot = slot
            return self._take(self._sample("periodic", frame, detections, below, ()), frame.mono)
        return None

    def _sample(
        self,
        reason: SampleReason,
        frame: Frame,
        detections: Detections,
        below: Detections,
        picked: tuple[int, ...],
        near_miss: NearMiss | None = None,
    ) -> LearningSample:
        return LearningSample(
            reason=reason,
            frame=frame,
            detections=detections,
            below=below,
            picked=picked,
            score_floor=self.score_floor,
            near_miss=near_miss,
        )

    def _periodic_slot(self, utc: dt.datetime) -> tuple[dt.date, int] | None:
        every = self.settings.periodic_every_s
        if every <= 0:
            return None
        local = utc.astimezone(self.tz)
        hours = self.settings.periodic_hours
        if hours is not None and not hours.contains(local.time().replace(tzinfo=None)):
            return None
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return local.date(), math.floor(seconds / every)

    def _dwell_misses(
        self, frame: Frame, detections: Detections, below: Detections, events: Sequence[HitEvent]
    ) -> LearningSample | None:
        """Follow the hits' lives: keep each opened hit's first frame until it confirms; a hit that
        clears unconfirmed is a dwell near miss (the first of this frame's, if several)."""
        found: LearningSample | None = None
        for ev in events:
            if ev.event == "opened":
                if self.left("near_miss") > 0:
                    self.opened[ev.hit_id] = _Opened(
                        frame=replace(frame, image=frame.image.copy()),  # the pipeline reuses buffers
                        detections=detections,
                        below=below,
                        index=_index_of(detections, ev),
                    )
                    while len(self.opened) > MAX_OPENED:
                        self.opened.popitem(last=False)
            elif ev.event in ("confirmed", "still_present"):
                self.opened.pop(ev.hit_id, None)
            elif ev.event == "cleared":
                first = self.opened.pop(ev.hit_id, None)
                if first is not None and found is None:
                    near = NearMiss(zone_id=ev.zone_id, violation=ev.violation, why="dwell")
                    picked = () if first.index is None else (first.index,)
                    found = self._sample(
                        "near_miss", first.frame, first.detections, first.below, picked, near
                    )
        return found


def _index_of(detections: Detections, event: HitEvent) -> int | None:
    """The index of a hit's object among its frame's detections (by track id, else by box)."""
    if not len(detections):
        return None
    if event.track_id is not None and detections.tracker_id is not None:
        same = np.flatnonzero(detections.tracker_id == event.track_id)
        if same.size:
            return int(same[0])
    distance = np.abs(detections.xyxy - np.asarray(event.box, dtype=np.float32)).sum(axis=1)
    best = int(np.argmin(distance))
    return best if distance[best] < 1.0 else None
