"""Grayscale frames (a camera's night/IR mode) are noticed, not silently taken for colour ones.

A grayscale stream reaches the pipeline as three equal channels (FFmpeg and OpenCV convert it), and
the model sees exactly that. NCE's detector was trained on colour: on grayscale copies of a held-out
synthetic set street-v1's mAP50 falls from 0.83 to 0.26 (``models/street-v1.md``, "Grayscale"), so a
camera that switches to grayscale finds far fewer violations. :class:`GrayscaleWatch` logs each
switch of a camera once (to grayscale: a warning; back to colour: info).
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

_STEP = 8  # every 8th pixel in both directions: enough to tell, 1/64 of the work


_SPREAD = 8  # a decoded grayscale video's channels differ by a few levels (chroma rounding); colour by tens


def is_grayscale(image: npt.NDArray[np.uint8]) -> bool:
    """Whether a frame is grayscale: one channel, or three channels within a few levels of each other
    at 99 % of the sampled pixels (a grayscale stream decoded to BGR is not exactly equal)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return True
    view = image[::_STEP, ::_STEP].astype(np.int16)
    spread = np.maximum(np.abs(view[..., 0] - view[..., 1]), np.abs(view[..., 1] - view[..., 2]))
    return bool(np.percentile(spread, 99) <= _SPREAD)


class GrayscaleWatch:
    """One camera's colour mode as last seen; each change is logged once."""

    def __init__(self) -> None:
        self.gray: bool | None = None

    def see(self, camera_id: str, image: npt.NDArray[np.uint8]) -> None:
        gray = is_grayscale(image)
        if gray == self.gray:
            return
        if gray:
            log.warning(
                "camera %s gives grayscale frames (a night/IR mode?): they go to the model as three equal "
                "channels, and a model trained on colour finds far fewer objects on them (street-v1: "
                "mAP50 0.83 on colour, 0.26 on grayscale; see its model card)",
                camera_id,
            )
        elif self.gray is not None:
            log.info("camera %s gives colour frames again", camera_id)
        self.gray = gray
