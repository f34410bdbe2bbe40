"""Zone rules: tracked detections of one camera → hit events.

For each rule and each of the camera's zones whose kind the rule names there is one *slot*, and a
slot holds at most one hit at a time: two objects in one zone make one hit per zone + violation.

- An object is in a zone when the bottom-centre of its box (where it stands) is inside the polygon
  (0..1 coordinates scaled to the frame; a point on the edge counts as inside; see
  :mod:`detector.zones`). Its class must be one of the rule's, its score ≥ ``min_score`` and its box
  area ≥ ``min_area_px``.
- A hit *opens* at the first sample with a matching object, and *confirms* once its dwell (presence,
  gaps shorter than ``grace_s`` included) reaches ``min_dwell_s``. A confirmed hit sends
  *still_present* every ``update_interval_s`` while the object stays. A hit *clears* when the zone has
  been empty for ``grace_s`` (an opened hit that never confirmed clears too, so consumers can drop it).
- Outside ``active_hours`` (a window may cross midnight) and inside any of the zone's
  ``exemptions`` — both in the site's time zone — the zone counts as empty.
- Cooldown: a sighting within ``cooldown_s`` after a confirmed hit cleared resumes that hit (a
  *still_present* with the same ``hit_id``) instead of opening a new one.

Durations use the frames' monotonic clock (media time for files), timestamps their UTC time.
:meth:`RuleEngine.flush` sends a last *still_present* for every confirmed hit still open at shutdown.
:meth:`RuleEngine.below_min_score` names the objects that a slot would have counted but for their
score (near misses, for the learning samples of :mod:`detector.learning`).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detector.config import Camera, Rule, Zone
from detector.detections import Detections
from detector.events import EventKind, Frame, HitEvent
from detector.zones import PolygonZone
from nce.bounds import HIT_ID_MAX, capped_id
from nce.vocabulary import Violation

log = logging.getLogger(__name__)

_EPS = 1e-6  # sums of sample intervals are not exact: 0.2 * 5 must count as 1.0


@dataclass
class _Hit:
    hit_id: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    last_mono: float
    track_id: int | None
    label: str
    score: float
    box: tuple[float, float, float, float]
    dwell_s: float = 0.0
    sightings: int = 1
    confirmed: bool = False
    cleared: bool = False
    last_update_mono: float = 0.0


@dataclass(frozen=True)
class ScoreMiss:
    """An object that a rule would have counted in a zone but for its score (below ``min_score``)."""

    zone_id: str
    violation: Violation
    index: int  # into the detections given


@dataclass
class _Slot:
    rule: Rule
    zone: Zone
    class_ids: frozenset[int]
    hit: _Hit | None = field(default=None)


class RuleEngine:
    """One camera's rules: ``update(tracked_detections, frame) -> [HitEvent, …]``.

    Built from the camera (its zones), the site's rules, the model's class names, the site id (in
    every event) and the site's time zone (active hours and exemptions are local time)."""

    def __init__(
        self,
        camera: Camera,
        rules: Sequence[Rule],
        names: dict[int, str],
        *,
        site_id: str,
        tz: dt.tzinfo,
    ) -> None:
        self.site_id = site_id
        self.camera_id = camera.id
        self.tz = tz
        self.names = names
        self._last_frame_utc: dt.datetime | None = None
        self.slots: list[_Slot] = []
        self.masks: dict[str, PolygonZone] = {}  # by zone id, made when a frame's size is first known
        by_name: dict[str, set[int]] = {}
        for cid, name in names.items():
            by_name.setdefault(name, set()).add(cid)
        for rule in rules:
            unknown = [c for c in rule.classes if c not in by_name]
            if unknown:
                log.warning(
                    "rule %s: classes %s are not among the model's (%s)",
                    rule.violation,
                    unknown,
                    ", ".join(sorted(by_name)),
                )
            ids = frozenset(i for c in rule.classes for i in by_name.get(c, ()))
            for zone in camera.zones:
                if zone.kind in rule.zone_kinds:
                    self.slots.append(_Slot(rule, zone, ids))

    @property
    def open_hits(self) -> int:
        return sum(1 for s in self.slots if s.hit is not None and not s.hit.cleared)

    def suppressed(self, slot: _Slot, utc: dt.datetime) -> bool:
        """Outside the rule's active hours or inside one of the zone's exemptions (local time)."""
        local = utc.astimezone(self.tz)
        hours = slot.rule.active_hours
        if hours is not None and not hours.contains(local.time().replace(tzinfo=None)):
            return True
        return any(ex.applies(local) for ex in slot.zone.exemptions)

    def zone(self, zone: Zone, frame_hw: tuple[int, int]) -> PolygonZone:
        """The zone's mask for frames of this size: made once, again only when the size changes."""
        resolution_wh = (frame_hw[1], frame_hw[0])
        mask = self.masks.get(zone.id)
        if mask is None or mask.resolution_wh != resolution_wh:
            mask = self.masks[zone.id] = PolygonZone(zone.polygon, resolution_wh)
        return mask

    def matching(self, slot: _Slot, detections: Detections, frame_hw: tuple[int, int]) -> Detections:
        """The detections that count for a slot (class, score, area, anchor inside the zone)."""
        if not len(detections):
            return detections
        rule = slot.rule
        keep = np.fromiter((int(c) in slot.class_ids for c in detections.class_id), bool, len(detections))
        keep &= detections.confidence >= rule.min_score
        keep &= detections.area >= rule.min_area_px
        if keep.any():
            keep &= self.zone(slot.zone, frame_hw).trigger(detections)
        return detections[keep]

    def below_min_score(self, detections: Detections, frame: Frame) -> list[ScoreMiss]:
        """Objects that stand in a zone, of a rule's class and size, while the rule applies, but
        scored below its ``min_score`` (rules with ``min_score`` 0 have none)."""
        out: list[ScoreMiss] = []
        if not len(detections):
            return out
        for slot in self.slots:
            rule = slot.rule
            if rule.min_score <= 0 or self.suppressed(slot, frame.utc):
                continue
            keep = np.fromiter((int(c) in slot.class_ids for c in detections.class_id), bool, len(detections))
            keep &= detections.confidence < rule.min_score
            keep &= detections.area >= rule.min_area_px
            if keep.any():
                keep &= self.zone(slot.zone, frame.shape_hw).trigger(detections)
            out.extend(ScoreMiss(slot.zone.id, rule.violation, int(i)) for i in np.flatnonzero(keep))
        return out

    def update(self, detections: Detections, frame: Frame) -> list[HitEvent]:
        now, utc = frame.mono, frame.utc
        self._last_frame_utc = utc
        events: list[HitEvent] = []
        for slot in self.slots:
            found = (
                Detections.empty()
                if self.suppressed(slot, utc)
                else self.matching(slot, detections, frame.shape_hw)
            )
            events.extend(self._step(slot, found, now, utc))
        return events

    def flush(self) -> list[HitEvent]:
        """A last *still_present* for every confirmed hit still open (at shutdown)."""
        events = []
        for slot in self.slots:
            hit = slot.hit
            if hit is not None and hit.confirmed and not hit.cleared:
                events.append(self._event("still_present", slot, hit, self._last_frame_utc or hit.last_seen))
        return events

    # -- the state machine --------------------------------------------------------------------

    def _step(self, slot: _Slot, found: Detections, now: float, utc: dt.datetime) -> list[HitEvent]:
        rule = slot.rule
        hit = slot.hit
        out: list[HitEvent] = []
        if hit is not None and hit.cleared and now - hit.last_mono >= rule.cooldown_s - _EPS:
            slot.hit = hit = None  # the cooldown is over
        if len(found):
            i = self._primary(found, hit)
            box = tuple(float(v) for v in found.xyxy[i])
            track = None if found.tracker_id is None else int(found.tracker_id[i])
            label = self.names.get(int(found.class_id[i]), str(int(found.class_id[i])))
            score = float(found.confidence[i])
            if hit is None:
                hit = _Hit(
                    hit_id=self._new_id(slot, utc),
                    first_seen=utc,
                    last_seen=utc,
                    last_mono=now,
                    track_id=track,
                    label=label,
                    score=score,
                    box=(box[0], box[1], box[2], box[3]),
                )
                slot.hit = hit
                out.append(self._event("opened", slot, hit, utc))
            else:
                resumed = hit.cleared
                if not resumed:
                    hit.dwell_s += now - hit.last_mono
                hit.cleared = False
                hit.last_seen, hit.last_mono = utc, now
                hit.track_id, hit.label, hit.score = track, label, score
                hit.box = (box[0], box[1], box[2], box[3])
                hit.sightings += 1
                if resumed:
                    hit.last_update_mono = now
                    out.append(self._event("still_present", slot, hit, utc))
                    return out
            if not hit.confirmed and hit.dwell_s >= rule.min_dwell_s - _EPS:
                hit.confirmed = True
                hit.last_update_mono = now
                out.append(self._event("confirmed", slot, hit, utc))
            elif hit.confirmed and now - hit.last_update_mono >= rule.update_interval_s - _EPS:
                hit.last_update_mono = now
                out.append(self._event("still_present", slot, hit, utc))
        elif hit is not None and not hit.cleared and now - hit.last_mono >= rule.grace_s - _EPS:
            hit.cleared = True
            out.append(self._event("cleared", slot, hit, utc))
            if not hit.confirmed or rule.cooldown_s <= 0:
                slot.hit = None
        return out

    @staticmethod
    def _primary(found: Detections, hit: _Hit | None) -> int:
        """The object a hit reports: the one it already follows, else the best scored."""
        if hit is not None and hit.track_id is not None and found.tracker_id is not None:
            same = np.flatnonzero(found.tracker_id == hit.track_id)
            if same.size:
                return int(same[0])
        return int(np.argmax(found.confidence))

    def _new_id(self, slot: _Slot, utc: dt.datetime) -> str:
        """``<time>-<camera>-<zone>-<violation>-<6 hex>``; one longer than 128 characters (long
        camera and zone ids) keeps its first 111 and appends ``-`` and 16 hex of its SHA-256."""
        stamp = utc.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S") + f"{utc.microsecond // 1000:03d}Z"
        full = f"{stamp}-{self.camera_id}-{slot.zone.id}-{slot.rule.violation}-{secrets.token_hex(3)}"
        return capped_id(full, HIT_ID_MAX)

    def _event(self, kind: EventKind, slot: _Slot, hit: _Hit, ts: dt.datetime) -> HitEvent:
        return HitEvent(
            event=kind,
            hit_id=hit.hit_id,
            site_id=self.site_id,
            camera_id=self.camera_id,
            zone_id=slot.zone.id,
            shop_id=slot.zone.shop_id,
            violation=slot.rule.violation,
            track_id=hit.track_id,
            label=hit.label,
            score=round(hit.score, 5),
            box=hit.box,
            ts=ts,
            first_seen=hit.first_seen,
            last_seen=hit.last_seen,
            dwell_s=round(max(hit.dwell_s, 0.0), 3),
            sightings=hit.sightings,
        )
