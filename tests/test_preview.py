"""Zone set-up: ``nce camera snapshot`` grabs a frame; ``nce config preview`` draws every zone (with
its kind, shop and exemptions), every mask and their ids on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detector.config import load_site_config
from detector.preview import ZONE_COLOURS, zone_label
from tests.support import pipelines as pf
from tests.support.cli import nce
from tests.support.videos import write_video

ROOT = Path(__file__).resolve().parents[1]


def _read(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    assert image is not None, path
    return np.asarray(image)


def _png(path: Path, gray: bool = False) -> Path:
    image = np.full((240, 320) if gray else (240, 320, 3), 128, dtype=np.uint8)
    cv2.imwrite(str(path), image)
    return path


SOURCES: dict[str, Callable[[Path], Path]] = {
    "video": lambda d: write_video(d / "cam.mp4", pf.SCENE, duration_s=1.0),
    "image": lambda d: _png(d / "cam.png"),
    "grayscale-image": lambda d: _png(d / "cam.png", gray=True),
}


def _config(tmp_path: Path, source: str, **extra: Any) -> Path:
    cam = pf.camera("cam-1", source, **extra)
    cam["zones"][0]["exemptions"] = [{"from": "18:00", "to": "22:00", "days": ["sat", "sun"]}]
    return pf.site_config(tmp_path / "site.yaml", ROOT / "models" / "street-v1.onnx", [cam])


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_snapshot_is_a_colour_png_of_the_camera_frame(tmp_path: Path, kind: str) -> None:
    config = _config(tmp_path, SOURCES[kind](tmp_path).name)  # relative: to the config's folder
    out = tmp_path / "shots" / "cam-1.png"
    res = nce("camera", "snapshot", "--config", str(config), "--camera", "cam-1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert f"{out}: camera cam-1 (cam-1), 320x240" in res.stdout
    image = _read(out, cv2.IMREAD_UNCHANGED)
    assert image.shape == (240, 320, 3)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("camera", "snapshot", "--camera", "cam-9"), "unknown camera 'cam-9'; known: cam-1"),
        (("config", "preview", "--camera", "cam-9"), "unknown camera 'cam-9'; known: cam-1"),
        (("camera", "snapshot", "--camera", "cam-1"), "no such file"),
        (("config", "preview", "--camera", "cam-1"), "no such file"),
    ],
)
def test_a_wrong_camera_or_source_is_one_line(tmp_path: Path, argv: tuple[str, ...], expected: str) -> None:
    config = _config(tmp_path, "missing.mp4")
    res = nce(*argv, "--config", str(config), "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and expected in res.stderr, res.stderr
    assert not (tmp_path / "x.png").exists()


def test_the_preview_draws_zones_masks_and_ids(tmp_path: Path) -> None:
    mask = {"classes": ["ad_board"], "polygon": [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9], [0.6, 0.9]]}
    config = _config(tmp_path, _png(tmp_path / "cam.png").name, masks=[mask])
    out = tmp_path / "preview.png"
    res = nce("config", "preview", "--config", str(config), "--camera", "cam-1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "cam-1: 2 zone(s), 1 mask(s) drawn" in res.stdout
    image = _read(out)
    # the frontage's right edge (x = 0.45 of 320, y 0.5..0.95 of 240) in the shop_frontage colour
    x, y = round(0.45 * 320), round(0.8 * 240)
    assert tuple(int(v) for v in image[y, x]) == ZONE_COLOURS["shop_frontage"]
    # the mask is shaded darker than the grey frame; outside every shape the frame is untouched
    assert image[round(0.8 * 240), round(0.75 * 320)].mean() < 120
    assert tuple(image[round(0.3 * 240), round(0.25 * 320)]) == (128, 128, 128)
    # the labels (ids) are drawn: the header band and the zone label patches are not grey
    assert (image[:12, :40] != 128).any()
    # --frame: the same drawing on a given image (a snapshot), the camera not opened
    frame = tmp_path / "snap.png"
    cv2.imwrite(str(frame), np.full((480, 640, 3), 200, dtype=np.uint8))
    out2 = tmp_path / "preview2.png"
    argv = ("config", "preview", "--config", str(config), "--camera", "cam-1", "--out", str(out2))
    assert nce(*argv, "--frame", str(frame)).returncode == 0
    assert _read(out2).shape == (480, 640, 3)


def test_a_zone_label_names_id_kind_shop_and_exemptions(tmp_path: Path) -> None:
    config = load_site_config(_config(tmp_path, "cam.mp4"))
    front, ads = config.cameras[0].zones
    assert zone_label(front) == "cam-1-front shop_frontage S-1 外摆 18:00-22:00 sat,sun"
    assert zone_label(ads) == "cam-1-ads no_ads"
