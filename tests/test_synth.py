"""Synthetic data: label geometry (boxes match drawn pixels after perspective, occlusion and resizing),
seed determinism, the scenario clip and its ground truth, and clear errors for bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from detector.errors import DataError
from modeling.synth import CLASSES
from modeling.synth.backgrounds import DEFAULT_DATA_DIR, Background, BackgroundPool, PhotoSpec
from modeling.synth.compose import Composer, warp_sprite, yolo_lines
from modeling.synth.dataset import synth_dataset
from modeling.synth.fonts import find_cjk_fonts
from modeling.synth.objects import DRAWERS
from modeling.synth.scenario import pingpong_index, render_scenario
from nce.cli import main

needs_data = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "vtest.avi").is_file(), reason="OpenCV sample data missing: run `make data`"
)
MAGENTA = (255, 0, 255)


@pytest.fixture(scope="module")
def pool() -> BackgroundPool:
    if not (DEFAULT_DATA_DIR / "vtest.avi").is_file():
        pytest.skip("OpenCV sample data missing: run `make data`")
    return BackgroundPool()


def _flat_background(occluder: np.ndarray | None = None) -> Background:
    img = np.empty((240, 320, 3), np.uint8)
    img[:] = MAGENTA
    return Background(img, PhotoSpec("flat", horizon=0.1, person_h=0.6, ground_top=0.3), "flat", occluder)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("seed", range(6))
def test_labels_match_drawn_pixels_under_occlusion(seed: int) -> None:
    occ = np.zeros((240, 320), bool)
    occ[:, 150:175] = True  # a "pedestrian" standing in front of everything
    bg = _flat_background(occ)
    img, placed = Composer(find_cjk_fonts()).compose(np.random.default_rng(seed), bg, 5, occ, shadows=False)
    assert placed, "nothing placed"
    changed = np.abs(img.astype(int) - bg.image.astype(int)).max(axis=2) > 10
    union = np.zeros_like(occ)
    for p in placed:
        assert p.box == _bbox(p.mask), "label box is not the box of the visible pixels"
        assert not (p.mask & occ).any(), "an object is drawn over the occluder"
        assert not (p.mask & union).any(), "visible masks overlap"
        assert p.mask.sum() >= 0.4 * p.full_area
        # the object's visible pixels really were drawn
        assert changed[p.mask].mean() > 0.97
        union |= p.mask
    # and nothing was drawn outside the labelled objects: a faint anti-aliased fringe (alpha < 0.5)
    # at most 3 px wide, and nothing strong more than 1 px away
    diff = np.abs(img.astype(int) - bg.image.astype(int)).max(axis=2)
    grown1 = cv2.dilate(union.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    grown3 = cv2.dilate(union.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert not (changed & ~grown3).any()
    assert not ((diff > 128) & ~grown1).any()
    assert not changed[occ].any()


def test_yolo_lines_round_trip_after_resizing() -> None:
    bg = _flat_background()
    _img, placed = Composer(find_cjk_fonts()).compose(np.random.default_rng(3), bg, 4, None, shadows=False)
    lines = yolo_lines(placed, 320, 240)
    assert len(lines) == len(placed)
    for line, p in zip(lines, placed, strict=True):
        c, cx, cy, w, h = (float(v) for v in line.split())
        assert int(c) == CLASSES.index(p.cls)
        # a resized copy of the image keeps the same normalised label
        for sw, sh in ((320, 240), (640, 480), (160, 120)):
            x1, y1 = (cx - w / 2) * sw, (cy - h / 2) * sh
            assert x1 == pytest.approx(p.box[0] * sw / 320, abs=1e-3 * sw)
            assert y1 == pytest.approx(p.box[1] * sh / 240, abs=1e-3 * sh)


def test_perspective_warp_keeps_the_alpha_inside_the_canvas() -> None:
    rng = np.random.default_rng(0)
    for name, draw in DRAWERS.items():
        sp = draw(rng, 80, find_cjk_fonts())
        warped = warp_sprite(sp, rng, 0.2)
        a = warped.alpha >= 0.5
        assert a.any(), name
        # nothing was cut off: the opaque pixels stay off the canvas border (one-pixel margin allowed)
        assert warped.alpha.sum() == pytest.approx(sp.alpha.sum(), rel=0.35), name
        assert warped.bgr.shape[:2] == warped.alpha.shape


def test_every_class_draws_with_text_fonts() -> None:
    fonts = find_cjk_fonts()
    assert len({f.path for f in fonts}) >= 2, "expected several CJK fonts (Noto CJK, WenQuanYi)"
    rng = np.random.default_rng(1)
    for name in CLASSES:
        sp = DRAWERS[name](rng, 60, fonts)
        assert sp.bgr.ndim == 3 and sp.alpha.max() > 0.9, name


def test_no_cjk_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no CJK font found"):
        find_cjk_fonts((str(tmp_path),))


@needs_data
def test_synth_is_deterministic_by_seed(tmp_path: Path, pool: BackgroundPool) -> None:
    a = synth_dataset(tmp_path / "a", 6, seed=5, pool=pool)
    b = synth_dataset(tmp_path / "b", 6, seed=5, pool=pool)
    c = synth_dataset(tmp_path / "c", 6, seed=6, pool=pool)
    assert a.dataset_sha256 == b.dataset_sha256
    assert a.dataset_sha256 != c.dataset_sha256
    assert a.images == {"train": 5, "val": 1}
    doc = yaml.safe_load((tmp_path / "a" / "data.yaml").read_text())
    assert doc["names"] == dict(enumerate(CLASSES))
    assert (tmp_path / "a" / "preview.png").is_file()
    for lbl in (tmp_path / "a" / "labels" / "train").glob("*.txt"):
        for line in lbl.read_text().splitlines():
            c_, *xywh = line.split()
            assert 0 <= int(c_) < len(CLASSES)
            assert all(0.0 <= float(v) <= 1.0 for v in xywh)


@needs_data
def test_real_pedestrians_occlude_objects(pool: BackgroundPool) -> None:
    rng = np.random.default_rng(11)
    composer = Composer(find_cjk_fonts())
    seen = 0
    for _ in range(30):
        bg = pool.sample(rng, (640, 480))
        if bg.occluder is None or not bg.occluder.any():
            continue
        _, placed = composer.compose(rng, bg, 6, bg.occluder)
        for p in placed:
            assert not (p.mask & bg.occluder).any()
            seen += 1
    assert seen > 10


@needs_data
def test_synth_bad_inputs(tmp_path: Path, pool: BackgroundPool, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataError, match="at least 1"):
        synth_dataset(tmp_path / "x", 0, pool=pool)
    synth_dataset(tmp_path / "d", 2, pool=pool)
    with pytest.raises(DataError, match="already holds a dataset"):
        synth_dataset(tmp_path / "d", 2, pool=pool)
    with pytest.raises(DataError, match="run `make data`"):
        BackgroundPool(tmp_path)
    (tmp_path / "file").write_text("x")
    assert main(["data", "synth", "--out", str(tmp_path / "file"), "--n", "2"]) != 0
    assert main(["data", "synth", "--out", str(tmp_path / "e"), "--n", "2", "--size", "big"]) != 0
    err = capsys.readouterr().err
    assert "is not a folder" in err and "--size must look like 640x480" in err and "Traceback" not in err


def test_pingpong() -> None:
    assert [pingpong_index(i, 4) for i in range(9)] == [0, 1, 2, 3, 2, 1, 0, 1, 2]


@needs_data
def test_scenario_clip_ground_truth_and_site_config(tmp_path: Path) -> None:
    from detector.config import load_site_config

    truth = render_scenario(tmp_path / "sc", seed=2, duration_s=6.0, fps=5.0)
    gt = json.loads((tmp_path / "sc" / "ground_truth.json").read_text())
    assert gt["frames"] == 30 and len(gt["violations"]) == len(truth.violations) >= 5
    for v in gt["violations"]:
        assert 0.0 <= v["start_s"] < v["end_s"] <= 6.0
        assert v["cls"] in CLASSES and v["zone_id"].startswith("z-")
        x1, y1, x2, y2 = v["box"]
        assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576
    cfg = load_site_config(tmp_path / "sc" / "site.yaml")
    zones = {z.id for z in cfg.cameras[0].zones}
    assert {v["zone_id"] for v in gt["violations"]} <= zones
    assert all(r.min_dwell_s <= 20 for r in cfg.rules)
    cap = cv2.VideoCapture(str(tmp_path / "sc" / "scenario.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (768, 576)
    # an object is on screen while it is active: the pixels in its box differ from the source footage
    v = next(v for v in gt["violations"] if v["start_s"] < 2.0 < v["end_s"])
    cap.set(cv2.CAP_PROP_POS_FRAMES, 10)
    ok, frame = cap.read()
    src = cv2.VideoCapture(str(DEFAULT_DATA_DIR / "vtest.avi"))
    src.set(cv2.CAP_PROP_POS_FRAMES, 10)
    ok2, orig = src.read()
    assert ok and ok2
    x1, y1, x2, y2 = (int(c) for c in v["box"])
    diff = np.abs(frame[y1:y2, x1:x2].astype(int) - orig[y1:y2, x1:x2].astype(int)).mean()
    assert diff > 15


@needs_data
def test_pasted_pedestrians_hide_objects_and_labels_follow(pool: BackgroundPool) -> None:
    from modeling.synth.compose import add_pedestrians

    assert len(pool.people) > 20
    composer = Composer(find_cjk_fonts())
    shrunk = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        bg = _flat_background()
        img, placed = composer.compose(rng, bg, 5, None, shadows=False)
        before = {id(p): p.mask.sum() for p in placed}
        people = add_pedestrians(rng, img, placed, bg.spec, pool.people, 3)
        for p in placed:
            assert not (p.mask & people).any()
            assert p.mask.sum() >= 0.4 * p.full_area
            if p.mask.any():
                assert p.box == _bbox(p.mask)
            shrunk += int(p.mask.sum() < before[id(p)])
    assert shrunk > 0, "no pedestrian ever stood in front of an object"


@needs_data
def test_pedestrians_use_their_own_random_stream(tmp_path: Path, pool: BackgroundPool) -> None:
    a = synth_dataset(tmp_path / "a", 4, seed=5, pool=pool, pedestrians=0.0)
    b = synth_dataset(tmp_path / "b", 4, seed=5, pool=pool, pedestrians=1.0)
    # same objects and labels; pedestrians only hide parts of them
    for name in ("train_000000", "train_000001", "train_000002"):
        la = (tmp_path / "a" / "labels" / "train" / f"{name}.txt").read_text().split("\n")
        lb = (tmp_path / "b" / "labels" / "train" / f"{name}.txt").read_text().split("\n")
        assert [x.split()[:1] for x in la if x] == [x.split()[:1] for x in lb if x]
    assert a.dataset_sha256 != b.dataset_sha256
