"""A video file read as fast as possible (``nce run --until-eof``, the demo) is dated so that its
last frame is the moment reading began: no frame, and so no package, is dated after it was received
(the demo's ledger showed evidence received before it was seen)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.sources import CameraReader

FPS, FRAMES = 10, 40  # a 4 s file


def video(path: Path) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (160, 120))
    for i in range(FRAMES):
        out.write(np.full((120, 160, 3), (i * 6) % 255, np.uint8))
    out.release()
    return path


@pytest.mark.parametrize(("realtime", "first_ago_s"), [(False, 4.0), (True, 0.0)])
def test_a_file_is_dated_in_the_past_when_read_fast(
    tmp_path: Path, realtime: bool, first_ago_s: float
) -> None:
    reader = CameraReader(
        "cam", str(video(tmp_path / "v.avi")), detect_fps=2, realtime=realtime, lossless=True
    )
    began = dt.datetime.now(dt.UTC)
    reader.start()
    samples = []
    deadline = time.monotonic() + 30
    while not reader.finished and time.monotonic() < deadline:
        frame = reader.take_sample()
        if frame is not None:
            samples.append(frame)
        time.sleep(0.005)
    reader.stop()
    assert len(samples) >= 6
    first, last = samples[0].utc, samples[-1].utc
    assert [f.utc for f in samples] == sorted(f.utc for f in samples)
    assert abs((began - first).total_seconds() - first_ago_s) < 0.6
    if not realtime:  # all in the past of every package written from them
        assert last <= dt.datetime.now(dt.UTC) and last <= began + dt.timedelta(seconds=0.5)
