"""Frames of a recorded video, one every N seconds, as JPEG bytes (``nce frames import``).

The one module of ``service/`` that may use OpenCV (tests/test_layout.py names it): the service never
imports it; only the import command's video branch does, and OpenCV is imported inside the function
that decodes. The service side itself never decodes an image (:mod:`service.image_header`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from service.errors import Invalid

VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".ts", ".flv"})
JPEG_QUALITY = 95


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def sample_video(path: Path, every_s: float) -> Iterator[tuple[float, bytes, int]]:
    """``(seconds into the video, JPEG bytes, samples expected in all)`` for the first frame and
    then one every ``every_s`` seconds (by the video's frame rate). The same video gives the same
    bytes (so importing it again adds nothing)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise Invalid(f"{path}: OpenCV cannot read it as a video")
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0:
            raise Invalid(f"{path}: the video does not say its frame rate")
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        expected = max(1, math.ceil(frames / fps / every_s)) if frames > 0 else 0
        index, next_t, any_frame = 0, 0.0, False
        while cap.grab():
            t = index / fps
            index += 1
            if t + 1e-9 < next_t:
                continue
            ok, image = cap.retrieve()
            if not ok:
                break
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise Invalid(f"{path}: frame at {t:.1f} s could not be encoded as JPEG")
            any_frame = True
            yield t, encoded.tobytes(), expected
            next_t += every_s
        if not any_frame:
            raise Invalid(f"{path}: the video has no frame OpenCV can decode")
    finally:
        cap.release()
