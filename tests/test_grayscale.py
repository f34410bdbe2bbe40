"""Grayscale frames (night/IR cameras) are noticed: one warning when a camera switches to them, one
line when it is back to colour; ``nce run`` says so for a grayscale clip."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.grayscale import GrayscaleWatch, is_grayscale
from tests.support import pipelines as pf
from tests.support.cli import nce


def _tinted(share: float, by: int) -> np.ndarray:
    """A gray frame with ``share`` of its rows tinted: blue ``by`` levels above green and red."""
    image = np.full((64, 64, 3), 100, dtype=np.uint8)
    image[: round(64 * share), :, 0] += by
    return image


@pytest.mark.parametrize(
    ("image", "gray"),
    [
        (np.zeros((48, 64), dtype=np.uint8), True),
        (np.zeros((48, 64, 1), dtype=np.uint8), True),
        (np.full((48, 64, 3), 77, dtype=np.uint8), True),
        (cv2.cvtColor(np.arange(64 * 48, dtype=np.uint8).reshape(48, 64), cv2.COLOR_GRAY2BGR), True),
        (np.dstack([np.full((48, 64), v, dtype=np.uint8) for v in (10, 20, 30)]), False),
        (_tinted(1.0, 3), True),  # a decoded grayscale video: channels a few levels apart
        (_tinted(1.0, 9), False),  # a faint colour cast everywhere
        (_tinted(0.25, 40), False),  # a coloured quarter of the frame (a shop sign, an awning)
        (_tinted(0.005, 200), True),  # under 1 % of the pixels: noise
    ],
    ids=[
        "2d",
        "one-channel",
        "flat",
        "gray2bgr",
        "colour",
        "codec-rounding",
        "faint-cast",
        "colour-part",
        "speck",
    ],
)
def test_is_grayscale(image: np.ndarray, gray: bool) -> None:
    assert is_grayscale(image) is gray


def test_each_switch_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    watch = GrayscaleWatch()
    gray = np.full((48, 64, 3), 50, dtype=np.uint8)
    colour = np.dstack([gray[..., 0], gray[..., 1], gray[..., 2] + 40])
    with caplog.at_level(logging.INFO, logger="detector.grayscale"):
        for image in (colour, colour, gray, gray, gray, colour, gray):
            watch.see("cam-9", image)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "INFO", "WARNING"]
    assert messages[0][1].startswith("camera cam-9 gives grayscale frames (a night/IR mode?)")
    assert "mAP50 0.83 on colour, 0.26 on grayscale" in messages[0][1]
    assert messages[1][1] == "camera cam-9 gives colour frames again"


def test_nce_run_warns_about_a_grayscale_camera(tmp_path: Path) -> None:
    model = pf.model(tmp_path / "m.onnx")
    video = tmp_path / "ir.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), 10, (320, 240))
    for i in range(10):
        writer.write(cv2.cvtColor(np.full((240, 320), 40 + i, dtype=np.uint8), cv2.COLOR_GRAY2BGR))
    writer.release()
    config = pf.site_config(tmp_path / "site.yaml", model, [pf.camera("cam-ir", str(video))])
    res = nce("run", "--config", str(config), "--until-eof", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stderr.count("camera cam-ir gives grayscale frames") == 1, res.stderr[-2000:]
