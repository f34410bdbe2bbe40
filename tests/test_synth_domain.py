"""Domain options of the generator (modeling/synth/domain.py): the default domain writes what the
generator wrote before domains existed, byte for byte; the shifted domain uses only backgrounds
the shipped model never saw, is deterministic, and its lighting and object looks change pixels."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from modeling.synth import CLASSES
from modeling.synth.backgrounds import DEFAULT_DATA_DIR, PHOTOS, VTEST
from modeling.synth.dataset import synth_dataset
from modeling.synth.domain import DOMAINS, LOOKS, SHIFTED_PHOTOS, Domain, recolour, relight
from nce.cli import main

needs_data = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "vtest.avi").is_file(), reason="OpenCV sample data missing: run `make data`"
)
# `synth_dataset(out, 4, seed=3)` made by the generator before domains existed (commit 3c1110e),
# OpenCV 4.14.0 (the .venv's): the images depend on OpenCV's resampling and JPEG codec
BEFORE_DOMAINS = {"4.14.0": "b0b142e631b63e4a69fe3bbaa3da95e043fc42cc2996db676da6d6c7b6a481dd"}


@needs_data
def test_the_default_domain_is_the_generator_as_it_was(tmp_path: Path) -> None:
    if cv2.__version__ not in BEFORE_DOMAINS:
        pytest.skip(f"no recorded hash for OpenCV {cv2.__version__}")
    a = synth_dataset(tmp_path / "a", 4, seed=3)
    b = synth_dataset(tmp_path / "b", 4, seed=3, domain=DOMAINS["default"])
    assert a.dataset_sha256 == b.dataset_sha256 == BEFORE_DOMAINS[cv2.__version__]
    assert DOMAINS["default"].is_default and not DOMAINS["shifted"].is_default


def test_the_shifted_domain_is_held_apart_from_the_training_backgrounds() -> None:
    shifted = DOMAINS["shifted"]
    trained = {p.name for p in PHOTOS} | {VTEST}
    assert shifted.photos == SHIFTED_PHOTOS and not {p.name for p in shifted.photos} & trained
    assert (
        shifted.vtest_share == 0.0
        and shifted.object_scale < 1.0
        and shifted.lighting
        and shifted.recolour > 0
    )


@needs_data
def test_shifted_data_is_deterministic_and_labelled(tmp_path: Path) -> None:
    a = synth_dataset(tmp_path / "a", 6, seed=4, val_fraction=0.0, domain=DOMAINS["shifted"])
    b = synth_dataset(tmp_path / "b", 6, seed=4, val_fraction=0.0, domain=DOMAINS["shifted"])
    c = synth_dataset(tmp_path / "c", 6, seed=4, val_fraction=0.0)
    assert a.dataset_sha256 == b.dataset_sha256 != c.dataset_sha256
    assert set(a.backgrounds) <= {p.name for p in SHIFTED_PHOTOS}
    assert sum(a.objects.values()) > 0
    for lbl in (tmp_path / "a" / "labels" / "train").glob("*.txt"):
        for line in lbl.read_text().splitlines():
            cls, *xywh = line.split()
            assert 0 <= int(cls) < len(CLASSES) and all(0.0 <= float(v) <= 1.0 for v in xywh)


@pytest.mark.parametrize("look", [look for look in LOOKS if look != "daylight"])
def test_each_look_relights_the_scene(look: str) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(40, 220, (48, 64, 3), dtype=np.uint8)
    out = relight(img, np.random.default_rng(1), (look,))  # type: ignore[arg-type]
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img.astype(int)).mean() > 5
    assert np.array_equal(relight(img, np.random.default_rng(1), ("daylight",)), img)


def test_recolour_changes_hues_not_shape() -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    img[:] = (40, 40, 210)  # a red from the palettes
    out = recolour(img, np.random.default_rng(2))
    assert out.shape == img.shape and not np.array_equal(out, img)


def test_a_domain_is_compared_by_value() -> None:
    assert Domain() == DOMAINS["default"] and Domain(object_scale=0.5) != Domain()


@needs_data
def test_synth_cli_takes_a_domain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["data", "synth", "--out", str(tmp_path / "s"), "--n", "2", "--seed", "1", "--domain", "shifted",
               "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert sum(summary["backgrounds"].values()) == 2
    assert set(summary["backgrounds"]) <= {p.name for p in SHIFTED_PHOTOS}
    with pytest.raises(SystemExit):
        main(["data", "synth", "--out", str(tmp_path / "t"), "--n", "2", "--domain", "night"])


@needs_data
def test_the_look_of_each_generated_image_is_known_from_its_seed_and_index(tmp_path: Path) -> None:
    """benchmarks.learning_looks scores by look without a side file: look_of(seed, i) must be the look
    relight() gave image i. Night images are darker than daylight ones of the same set, and a set
    made with one look only is that look everywhere."""
    from benchmarks.learning_looks import look_table, looks_of

    shifted = DOMAINS["shifted"]
    synth_dataset(tmp_path / "s", 18, seed=21, val_fraction=0.0, domain=shifted)
    by_look = looks_of(tmp_path / "s", 21, shifted)
    assert sum(len(v) for v in by_look.values()) == 18 and set(by_look) <= set(shifted.lighting)
    mean = {k: float(np.mean([cv2.imread(str(p)).mean() for p in v])) for k, v in by_look.items()}
    assert {"night", "daylight"} <= set(mean), f"seed 21 should give both looks: {sorted(by_look)}"
    assert mean["night"] < 0.6 * mean["daylight"]
    night_only = Domain(name="night", photos=SHIFTED_PHOTOS, vtest_share=0.0, lighting=("night",))
    assert set(looks_of(tmp_path / "s", 21, night_only)) == {"night"}
    row = {"labelled": 0, "eval": {"shifted_by_look": {"night": {"images": 3, "map50": 0.1}}}}
    assert "| 0 | 0.100 |" in look_table([row]) and "night (3)" in look_table([row])


@needs_data
def test_the_recipe_benchmark_splits_the_first_fifth_to_val(tmp_path: Path) -> None:
    from benchmarks.learning_recipe import city_set

    synth_dataset(tmp_path / "pool", 10, seed=5, val_fraction=0.0, domain=DOMAINS["shifted"])
    out = city_set(tmp_path / "pool", tmp_path / "city", 10)
    val = sorted(p.name for p in (out / "images" / "val").iterdir())
    assert (
        val == ["train_000000.jpg", "train_000001.jpg"] and len(list((out / "images/train").iterdir())) == 8
    )
    assert all(
        (out / "labels" / "train" / f"{p.stem}.txt").is_file() for p in (out / "images/train").iterdir()
    )
    with pytest.raises(SystemExit, match="fewer than --n 11"):
        city_set(tmp_path / "pool", tmp_path / "city", 11)
