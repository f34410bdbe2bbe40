"""Object ids across samples: a small IoU matcher tuned for static objects.

Street violations are static (a stall, a pile, a banner), sampled at 1–5 fps, and hidden now and
then by passers-by. So: match each detection to the live track of the same class with the highest
box overlap (IoU ≥ ``min_iou``; greedy, best pairs first), keep unmatched tracks for ``buffer_s``
seconds (occlusion), and start a new id for what is left. A general multi-object tracker with motion
models (ByteTrack) buys little here and adds a dependency; this one is a few lines and predictable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector.detections import Detections


def box_iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Pairwise IoU of ``(n, 4)`` and ``(m, 4)`` xyxy boxes → ``(n, m)``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    out: npt.NDArray[np.float32] = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(
        np.float32
    )
    return out


@dataclass
class _Track:
    track_id: int
    box: npt.NDArray[np.float32]
    class_id: int
    last_seen: float


class IouTracker:
    """``update(detections, mono) -> detections`` with ``tracker_id`` set."""

    def __init__(self, *, min_iou: float = 0.3, buffer_s: float = 30.0, class_aware: bool = True) -> None:
        self.min_iou = min_iou
        self.buffer_s = buffer_s
        self.class_aware = class_aware
        self._tracks: list[_Track] = []
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._tracks)

    def update(self, detections: Detections, mono: float) -> Detections:
        self._tracks = [t for t in self._tracks if mono - t.last_seen <= self.buffer_s]
        n = len(detections)
        ids = np.full(n, -1, dtype=np.int64)
        if self._tracks and n:
            boxes = np.stack([t.box for t in self._tracks])
            iou = box_iou(detections.xyxy, boxes)
            if self.class_aware:
                same = detections.class_id[:, None] == np.array([t.class_id for t in self._tracks])[None, :]
                iou = np.where(same, iou, 0.0)
            pairs = np.argwhere(iou >= self.min_iou)
            order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind="stable")
            used_tracks: set[int] = set()
            for d, t in pairs[order]:
                if ids[d] != -1 or t in used_tracks:
                    continue
                track = self._tracks[t]
                ids[d] = track.track_id
                track.box = detections.xyxy[d].copy()
                track.class_id = int(detections.class_id[d])
                track.last_seen = mono
                used_tracks.add(int(t))
        for d in np.flatnonzero(ids == -1):
            track = _Track(self._next_id, detections.xyxy[d].copy(), int(detections.class_id[d]), mono)
            self._next_id += 1
            self._tracks.append(track)
            ids[d] = track.track_id
        return Detections(
            xyxy=detections.xyxy,
            confidence=detections.confidence,
            class_id=detections.class_id,
            tracker_id=ids,
            data=detections.data,
        )
