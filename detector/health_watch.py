"""The edge's own health watch after a model swap (issue 17): when to roll back by itself.

Pure bookkeeping and rules, no clock and no I/O. :class:`HealthWatch` counts, per release, camera and
UTC hour of day, the frames the model saw, the camera time they cover (the gaps between one camera's
consecutive frames, each capped at :attr:`HealthRules.max_gap_s`), the detections, the hits opened,
and the model's errors. :func:`judge` compares a new release with the one it replaced **over the
same hours of day** (the previous release's tallies for the hours the new one has run; all its hours
when those are too few) and names the reason to roll back, or ``None``:

- **errors**: at least :attr:`~HealthRules.min_errors` failed frames and more than
  :attr:`~HealthRules.max_error_rate` of the frames (judged at once: errors need no baseline);
- **detection flood**: more than :attr:`~HealthRules.max_detections_per_frame` detections per frame
  on average over at least :attr:`~HealthRules.min_frames` frames (no baseline needed), or — with
  :attr:`~HealthRules.min_hours` camera-hours on both sides — detections per camera-hour above
  :attr:`~HealthRules.max_ratio` times the previous release's (its rate floored at
  :attr:`~HealthRules.rate_floor`, so a quiet street does not make any detection a flood);
- **hit flood**: hits opened per camera-hour above ``max_ratio`` times the previous release's
  (floored at :attr:`~HealthRules.hit_floor`), with ``min_hours`` on both sides.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["HealthRules", "HealthWatch", "Tally", "judge"]


@dataclass(frozen=True)
class HealthRules:
    """The thresholds (``nce run`` takes them from the site's ``rollout`` defaults)."""

    min_errors: int = 3
    max_error_rate: float = 0.02
    min_frames: int = 20
    max_detections_per_frame: float = 40.0
    min_hours: float = 0.25
    max_ratio: float = 3.0
    rate_floor: float = 60.0  # detections per camera-hour
    hit_floor: float = 2.0  # hits per camera-hour
    max_gap_s: float = 60.0


@dataclass
class Tally:
    """What one release did on some cameras over some hours."""

    frames: int = 0
    errors: int = 0
    detections: int = 0
    hits: int = 0
    seconds: float = 0.0  # camera time covered

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    def add(self, other: Tally) -> None:
        self.frames += other.frames
        self.errors += other.errors
        self.detections += other.detections
        self.hits += other.hits
        self.seconds += other.seconds


def judge(rules: HealthRules, before: Tally | None, after: Tally) -> str | None:
    """Why the new release (``after``) must be rolled back compared with ``before``; None: keep it."""
    seen = after.frames + after.errors
    if after.errors >= rules.min_errors and after.errors > rules.max_error_rate * seen:
        return f"inference errors: {after.errors} of {seen} frames"
    if after.frames >= rules.min_frames and after.detections > rules.max_detections_per_frame * after.frames:
        per = after.detections / after.frames
        return f"detection flood: {per:.1f} detections per frame (limit {rules.max_detections_per_frame:g})"
    if before is None or min(before.hours, after.hours) < rules.min_hours or after.hours <= 0:
        return None
    old = max(before.detections / before.hours, rules.rate_floor)
    new = after.detections / after.hours
    if new > rules.max_ratio * old:
        return f"detection flood: {new:.0f} detections per camera-hour against {old:.0f} before"
    old_hits = max(before.hits / before.hours, rules.hit_floor)
    new_hits = after.hits / after.hours
    if new_hits > rules.max_ratio * old_hits:
        return f"hit flood: {new_hits:.1f} hits per camera-hour against {old_hits:.1f} before"
    return None


@dataclass
class HealthWatch:
    """Tallies per (release, camera, UTC hour of day), and the verdict on a release."""

    rules: HealthRules = field(default_factory=HealthRules)
    tallies: dict[tuple[str, str, int], Tally] = field(default_factory=lambda: defaultdict(Tally))
    _last: dict[str, dt.datetime] = field(default_factory=dict)

    def frame(self, release: str, camera: str, utc: dt.datetime, detections: int) -> None:
        t = self.tallies[(release, camera, utc.hour)]
        t.frames += 1
        t.detections += detections
        last = self._last.get(camera)
        if last is not None:
            t.seconds += min(max((utc - last).total_seconds(), 0.0), self.rules.max_gap_s)
        self._last[camera] = utc

    def error(self, release: str, camera: str, utc: dt.datetime) -> None:
        self.tallies[(release, camera, utc.hour)].errors += 1

    def hit(self, release: str, camera: str, utc: dt.datetime) -> None:
        self.tallies[(release, camera, utc.hour)].hits += 1

    def total(self, release: str, cameras: set[str] | None = None, hours: set[int] | None = None) -> Tally:
        out = Tally()
        for (rel, cam, hour), t in self.tallies.items():
            if rel == release and (cameras is None or cam in cameras) and (hours is None or hour in hours):
                out.add(t)
        return out

    def verdict(self, release: str, previous: str | None, cameras: set[str] | None = None) -> str | None:
        """Judge ``release`` on ``cameras`` against ``previous`` over the same hours of day."""
        after = self.total(release, cameras)
        before: Tally | None = None
        if previous is not None:
            hours = {h for (rel, _, h), t in self.tallies.items() if rel == release and t.frames}
            before = self.total(previous, cameras, hours)
            if before.hours < self.rules.min_hours:
                before = self.total(previous, cameras)
        return judge(self.rules, before, after)
