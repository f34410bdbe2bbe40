"""A camera's masks (``cameras[].masks``): detections of the masked classes that stand inside a mask
polygon (bottom-centre anchor, as for zones: :mod:`detector.zones`) are dropped right after the
model, before the tracker, the rules and the learning samples, so they never make a hit or a sample.

:class:`DetectionMasks` is a stage like the others: ``apply(detections, frame_hw) -> (kept, masked)``
where ``masked`` counts the dropped detections by class name (``nce_masked_detections_total``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from detector.config import Mask
from detector.detections import Detections
from detector.zones import PolygonZone

log = logging.getLogger(__name__)


class DetectionMasks:
    """One camera's masks over the model's classes (``names``: class id → name)."""

    def __init__(self, camera_id: str, masks: Sequence[Mask], names: dict[int, str]) -> None:
        self.camera_id = camera_id
        self.names = names
        by_name: dict[str, set[int]] = {}
        for cid, name in names.items():
            by_name.setdefault(name, set()).add(cid)
        self.masks: list[tuple[Mask, np.ndarray]] = []
        for i, mask in enumerate(masks):
            unknown = [c for c in mask.classes if c not in by_name]
            if unknown:
                log.warning(
                    "camera %s mask %d: classes %s are not among the model's (%s)",
                    camera_id, i, unknown, ", ".join(sorted(by_name)),
                )  # fmt: skip
            ids = sorted(cid for c in mask.classes for cid in by_name.get(c, ()))
            self.masks.append((mask, np.array(ids, dtype=np.int64)))
        self._zones: dict[int, PolygonZone] = {}  # by mask index, for the frame size last seen

    def __bool__(self) -> bool:
        return bool(self.masks)

    def zone(self, index: int, frame_hw: tuple[int, int]) -> PolygonZone:
        """Mask ``index``'s polygon on frames of this size: made once, again only when the size changes."""
        resolution_wh = (frame_hw[1], frame_hw[0])
        zone = self._zones.get(index)
        if zone is None or zone.resolution_wh != resolution_wh:
            zone = self._zones[index] = PolygonZone(self.masks[index][0].polygon, resolution_wh)
        return zone

    def apply(self, detections: Detections, frame_hw: tuple[int, int]) -> tuple[Detections, Counter[str]]:
        """The detections no mask covers, and how many of each class were dropped."""
        if not self.masks or not len(detections):
            return detections, Counter()
        drop = np.zeros(len(detections), dtype=bool)
        for i, (_mask, ids) in enumerate(self.masks):
            of_class = np.isin(detections.class_id, ids)
            if of_class.any():
                drop |= of_class & self.zone(i, frame_hw).trigger(detections)
        if not drop.any():
            return detections, Counter()
        masked = Counter(self.names.get(int(c), str(int(c))) for c in detections.class_id[drop])
        return detections[~drop], masked
