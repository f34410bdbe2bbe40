"""The one detections value that flows through the edge stages.

Parallel arrays, checked when built (after supervision's ``Detections``): ``xyxy`` boxes in
frame pixels, ``confidence``, ``class_id`` and optional ``tracker_id``. It behaves like an array:
``len()``, boolean-mask / index selection, :meth:`empty` and :meth:`merge`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _shape_error(name: str, expected: str, got: tuple[int, ...]) -> ValueError:
    return ValueError(f"{name} must be shape {expected}, got {got}")


@dataclass(eq=False)
class Detections:
    """Objects found in one frame.

    Attributes:
        xyxy: ``(n, 4)`` float32 boxes ``x1, y1, x2, y2`` in frame pixels.
        confidence: ``(n,)`` float32 scores.
        class_id: ``(n,)`` int64 class indices into the model's names.
        tracker_id: ``(n,)`` int64 track ids, or ``None`` before tracking.
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray | None = None
    data: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        self.xyxy = xyxy.reshape(0, 4) if xyxy.size == 0 else xyxy
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        self.class_id = np.asarray(self.class_id, dtype=np.int64)
        n = self.xyxy.shape[0] if self.xyxy.ndim == 2 else -1
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise _shape_error("xyxy", "(n, 4)", self.xyxy.shape)
        if self.confidence.shape != (n,):
            raise _shape_error("confidence", f"({n},)", self.confidence.shape)
        if self.class_id.shape != (n,):
            raise _shape_error("class_id", f"({n},)", self.class_id.shape)
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64)
            if self.tracker_id.shape != (n,):
                raise _shape_error("tracker_id", f"({n},)", self.tracker_id.shape)
        for key, value in self.data.items():
            if len(value) != n:
                raise _shape_error(f"data[{key!r}]", f"({n}, ...)", np.shape(value))

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), dtype=np.float32),
            confidence=np.zeros((0,), dtype=np.float32),
            class_id=np.zeros((0,), dtype=np.int64),
        )

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate detections of one frame (tracker ids kept only when every part has them)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        tracked = all(p.tracker_id is not None for p in parts)
        keys = set(parts[0].data).intersection(*(p.data for p in parts[1:]))
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate([p.tracker_id for p in parts if p.tracker_id is not None])
            if tracked
            else None,
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys},
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __iter__(self) -> Iterator[Detections]:
        for i in range(len(self)):
            yield self[i : i + 1]

    def __getitem__(self, index: int | slice | Sequence[int] | npt.NDArray[Any]) -> Detections:
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @property
    def area(self) -> FloatArray:
        """Box areas in square pixels."""
        wh = np.clip(self.xyxy[:, 2:4] - self.xyxy[:, 0:2], 0, None)
        areas: FloatArray = (wh[:, 0] * wh[:, 1]).astype(np.float32)
        return areas

    @property
    def bottom_center(self) -> FloatArray:
        """``(n, 2)`` anchor points: the middle of each box's bottom edge (where it stands)."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2.0, self.xyxy[:, 3]], axis=1).astype(
            np.float32
        )

    def __repr__(self) -> str:
        return f"Detections(n={len(self)}, tracked={self.tracker_id is not None})"
