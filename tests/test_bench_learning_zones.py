"""The learning benchmark's edge camera: its zones (whole frame, or a grid of cells as a camera over
a row of shop fronts has), the site config they make loading as any site config does, and which
loop row an ablation compares with."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from benchmarks.bench_learning import SHIPPED, ablation_lines, loop_variant_of
from benchmarks.learning_loop import slideshow, zones
from detector.config import load_site_config


def _area(poly: list[list[float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise([*poly, poly[0]]))) / 2


def test_one_cell_is_the_whole_frame_for_each_kind() -> None:
    assert [(z["id"], z["kind"], _area(z["polygon"])) for z in zones(1)] == [
        ("z-walk", "sidewalk", 1.0),
        ("z-ads", "no_ads", 1.0),
    ]


@pytest.mark.parametrize("grid", [2, 3, 5])
def test_a_grid_tiles_the_frame_once_for_each_kind(grid: int) -> None:
    cells = zones(grid)
    assert len(cells) == 2 * grid * grid and len({z["id"] for z in cells}) == len(cells)
    rng = np.random.default_rng(grid)
    for kind in ("sidewalk", "no_ads"):
        mine = [z for z in cells if z["kind"] == kind]
        assert sum(_area(z["polygon"]) for z in mine) == pytest.approx(1.0)
        for x, y in rng.uniform(0.001, 0.999, size=(50, 2)):  # off the cell edges: in exactly one cell
            inside = [
                z["id"]
                for z in mine
                if cv2.pointPolygonTest(np.array(z["polygon"], np.float32), (float(x), float(y)), False) > 0
            ]
            assert len(inside) == 1, (x, y, inside)


@pytest.mark.parametrize("grid", [0, -1])
def test_no_cells_is_refused(grid: int) -> None:
    with pytest.raises(ValueError, match="expected 1 or more cells a side"):
        zones(grid)


def test_the_grid_site_config_loads(tmp_path: Path) -> None:
    scenes = []
    for i in range(2):
        path = tmp_path / f"scene-{i}.jpg"
        cv2.imwrite(str(path), np.full((120, 160, 3), 60 * i, np.uint8))
        scenes.append(path)
    show = slideshow(tmp_path / "clip", scenes, SHIPPED, hold_s=1.0, grid=3)
    # as the loop completes it before the edge runs: sample packages are signed, so a device
    doc = yaml.safe_load(show.site.read_text(encoding="utf-8"))
    doc["device"] = {"id": "edge-shift", "key_file": str(tmp_path / "edge.key")}
    show.site.write_text(yaml.safe_dump(doc), encoding="utf-8")
    config = load_site_config(show.site)
    [camera] = config.cameras
    assert len(camera.zones) == 18
    assert {z.kind for z in camera.zones} == {"sidewalk", "no_ads"}


@pytest.mark.parametrize(
    ("variant", "pair"),
    [
        ("no reviews", "loop"),
        ("no reviews, zone grid 3x3", "loop, zone grid 3x3"),
        ("loop", "loop"),
        ("loop, zone grid 3x3", "loop, zone grid 3x3"),
        ("no blend, stop 25", "no blend, stop 25"),
    ],
)
def test_an_ablation_compares_with_the_loop_of_its_setup(variant: str, pair: str) -> None:
    assert loop_variant_of(variant) == pair


def _row(
    n: int, variant: str, fp: float, shifted: float, unblended: tuple[float, float] | None
) -> dict[str, Any]:
    def ev(f: float, m: float) -> dict[str, Any]:
        return {"false_detections": {"total_per_100": f}, "shifted": {"map50": m}}

    return {"labelled": n, "variant": variant, "eval": ev(fp, shifted),
            "eval_unblended": ev(*unblended) if unblended else None}  # fmt: skip


def _line(setup: str, without: float, with_r: float, before: float, after: float) -> str:
    return (
        f"- ablation at 100 labelled frames{setup}: false detections per 100 empty frames 38.0 (shipped) → "
        f"{without} without the reviews' frames → {with_r} with them (their hard negatives and confirmed "
        f"frames); shifted mAP50 {before:.3f} → {after:.3f} (both fine-tunes unblended)"
    )


@pytest.mark.parametrize(
    ("rows", "want"),
    [
        # a blended loop against an ablation from before the blend (as trained already)
        (
            [_row(100, "loop", 16.0, 0.459, (12.0, 0.470)), _row(100, "no reviews", 13.0, 0.466, None)],
            [_line("", 13.0, 12.0, 0.466, 0.470)],
        ),
        # both blended: each side's fine-tune as trained, never one blended against one not
        (
            [
                _row(100, "loop, zone grid 3x3", 12.0, 0.457, (6.0, 0.485)),
                _row(100, "no reviews, zone grid 3x3", 13.0, 0.414, (12.0, 0.459)),
            ],
            [_line(", zone grid 3x3", 12.0, 6.0, 0.459, 0.485)],
        ),
        # an ablation meets only the loop of its own setup and labelled frames
        (
            [
                _row(100, "loop", 16.0, 0.459, (12.0, 0.470)),
                _row(100, "no reviews, zone grid 3x3", 13.0, 0.414, (12.0, 0.459)),
                _row(300, "no reviews", 9.0, 0.5, None),
            ],
            [],
        ),
    ],
)
def test_the_ablation_compares_like_for_like(rows: list[dict[str, Any]], want: list[str]) -> None:
    assert ablation_lines(rows, 38.0) == want
