"""Generated test videos: coloured patches that appear and leave at known times."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0), "dark": (60, 60, 60)}


@dataclass(frozen=True)
class Patch:
    colour: str
    xyxy: tuple[int, int, int, int]
    start_s: float
    end_s: float


def write_video(
    path: Path,
    patches: list[Patch],
    *,
    size_wh: tuple[int, int] = (320, 240),
    fps: int = 10,
    duration_s: float = 8.0,
) -> Path:
    """An mp4v video on a grey background; patches are drawn in list order (later ones on top)."""
    w, h = size_wh
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(round(duration_s * fps)):
        t = i / fps
        frame = np.full((h, w, 3), 128, dtype=np.uint8)
        for p in patches:
            if p.start_s <= t + 1e-9 < p.end_s:
                x1, y1, x2, y2 = p.xyxy
                frame[y1:y2, x1:x2] = BGR[p.colour]
        writer.write(frame)
    writer.release()
    return path
