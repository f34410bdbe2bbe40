"""The change gate: skip inference when a camera's picture has not changed.

Frames are compared downscaled and grey (``width`` pixels wide, blurred) against the last frame that
was *inferred*, so slow changes add up until they count. A sample is inferred when more than
``min_changed`` of its pixels differ by more than ``pixel_threshold`` grey levels, and in any case when
``recheck_s`` have passed since the last inference: static objects are what NCE looks for, so a scene
that never changes is still re-checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    width: int = 96
    pixel_threshold: int = 20
    min_changed: float = 0.002
    recheck_s: float = 10.0


class ChangeGate:
    """One camera's gate: ``update(image, mono) -> True`` when the sample should be inferred."""

    def __init__(self, settings: GateSettings | None = None) -> None:
        self.settings = settings or GateSettings()
        self._reference: npt.NDArray[np.uint8] | None = None
        self._last_inferred: float | None = None
        self.last_changed_fraction = 1.0

    def small_grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        h, w = image.shape[:2]
        width = min(self.settings.width, w)
        height = max(1, round(h * width / w))
        # pick every n-th pixel first (nearest-neighbour to twice the size reads only those pixels; a
        # strided numpy copy of the same pixels costs 5x more), then area-average: averaging all of a
        # 1080p frame would cost milliseconds a sample
        coarse = image
        if w >= 4 * width:
            coarse = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        out: npt.NDArray[np.uint8] = cv2.GaussianBlur(grey, (3, 3), 0)
        return out

    def update(self, image: npt.NDArray[np.uint8], mono: float) -> bool:
        """Decide for one sample; when it says infer, the sample becomes the new reference."""
        grey = self.small_grey(image)
        s = self.settings
        due = self._last_inferred is None or mono - self._last_inferred >= s.recheck_s
        ref = self._reference
        if ref is None or ref.shape != grey.shape:
            self.last_changed_fraction = 1.0
        else:
            diff = cv2.absdiff(grey, ref)
            self.last_changed_fraction = float(np.count_nonzero(diff > s.pixel_threshold)) / diff.size
        changed = self.last_changed_fraction > s.min_changed
        if due or changed:
            self._reference = grey
            self._last_inferred = mono
            return True
        return False
