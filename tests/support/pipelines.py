"""Site configs, a colour-patch model and a scripted video for end-to-end pipeline tests.

The scene (320 x 240, 10 fps, 8 s): a red "stall" stands in the shop frontage from 1.0 s to 5.0 s
(hidden by a dark passer-by at 3.5-3.9 s) and a green "banner" hangs in the no-ads zone from 2.0 s
to 6.5 s. With detect_fps 5 the samples fall on every 0.2 s of media time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.onnx_models import colour_patch_model
from tests.support.videos import Patch, write_video

NAMES = {0: "stall", 1: "banner", 2: "garbage"}
COLOURS = {0: "red", 1: "green", 2: "blue"}

SCENE = [
    Patch("red", (40, 130, 100, 200), 1.0, 5.0),
    Patch("green", (200, 20, 300, 60), 2.0, 6.5),
    Patch("dark", (30, 100, 110, 210), 3.5, 3.9),
]
STALL_IN, STALL_OUT = 1.0, 5.0
BANNER_IN, BANNER_OUT = 2.0, 6.5
SAMPLE_S = 0.2

FRONTAGE = [[0.05, 0.5], [0.45, 0.5], [0.45, 0.95], [0.05, 0.95]]
NO_ADS = [[0.55, 0.05], [0.98, 0.05], [0.98, 0.5], [0.55, 0.5]]
RULES: list[dict[str, Any]] = [
    {
        "violation": "out_of_shop_trading",
        "zone_kinds": ["shop_frontage"],
        "classes": ["stall"],
        "min_dwell_s": 1.5,
        "grace_s": 1.0,
        "update_interval_s": 1.0,
        "cooldown_s": 0,
    },
    {
        "violation": "illegal_ad",
        "zone_kinds": ["no_ads"],
        "classes": ["banner"],
        "min_dwell_s": 2.0,
        "grace_s": 1.0,
        "update_interval_s": 1.0,
    },
]


def model(path: Path) -> Path:
    return colour_patch_model(path, names=NAMES, colours=COLOURS)


def scene_video(path: Path) -> Path:
    return write_video(path, SCENE)


def camera(cam_id: str, source: str, *, zones: bool = True, **extra: Any) -> dict[str, Any]:
    cam: dict[str, Any] = {"id": cam_id, "name": cam_id, "source": source, "detect_fps": 5, "recheck_s": 1}
    if zones:
        cam["zones"] = [
            {"id": f"{cam_id}-front", "kind": "shop_frontage", "shop_id": "S-1", "polygon": FRONTAGE},
            {"id": f"{cam_id}-ads", "kind": "no_ads", "polygon": NO_ADS},
        ]
    cam.update(extra)
    return cam


def site_config(
    path: Path,
    model_path: Path,
    cameras: list[dict[str, Any]],
    *,
    rules: list[dict[str, Any]] | None = None,
    max_batch: int = 8,
    extra: dict[str, Any] | None = None,
) -> Path:
    doc = {
        "site": {"id": "test-site", "name": "test", "timezone": "Asia/Shanghai"},
        "model": {"path": str(model_path), "conf": 0.5, "max_batch": max_batch, "intra_op_threads": 1},
        "shops": [{"id": "S-1", "name": "shop", "code": "310000-0001"}],
        "cameras": cameras,
        "rules": rules or RULES,
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path
