"""The pipeline's units of work: one batch handed to a model (:class:`Chunk`), one turn of the loop
(:class:`Batch`), and the guard that keeps one failing sink from stopping the others."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from detector.events import EventSink, Frame
from detector.yolo import Letterbox, YoloDetector

if TYPE_CHECKING:
    from detector.pipeline import CameraRuntime

__all__ = ["Batch", "Chunk", "guarded"]

log = logging.getLogger("detector.pipeline")


@dataclass
class Chunk:
    """One batch handed to a model: its samples, their letterboxes, the pending raw output, and the
    detector it went to (a swap between batches leaves it to finish on this one)."""

    samples: list[tuple[CameraRuntime, Frame]]
    boxes: list[Letterbox]
    raw: Future[tuple[npt.NDArray[np.float32], float]]
    pre_s: float
    detector: YoloDetector


@dataclass
class Batch:
    """The samples of one turn of the loop: all of them (in order), and the chunks the model runs."""

    samples: list[tuple[CameraRuntime, Frame]]
    chunks: list[Chunk]


@contextmanager
def guarded(sink: EventSink, method: str) -> Iterator[None]:
    """One failing sink must not stop the others or the cameras: its error is logged, not raised."""
    try:
        yield
    except Exception:
        log.exception("sink %s.%s failed", type(sink).__name__, method)
