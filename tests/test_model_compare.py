"""The evaluation gate (``nce model compare``) and the gate in ``nce model release``, on real ONNX models
that find coloured patches (tests.support.onnx_models.colour_patch_model) and a real labelled dataset:
the same model passes, a model that lost a class fails, one with more false detections on negative
frames fails, other class lists cannot be compared (exit 2); a failed gate releases only with --force,
and the signed record says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from nce.cli import main as nce_main
from nce.release import load_release_pubkey, verify_release
from tests.support.onnx_models import colour_patch_model
from tests.support.releases import COLOURS, NAMES, release_keys, scaled_scores_copy, small_model

BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "dim_green": (0, 128, 0), "blue": (255, 0, 0)}


def _image(path: Path, patches: list[tuple[str, tuple[int, int, int, int]]]) -> None:
    img = np.full((64, 64, 3), 114, np.uint8)
    for colour, (x1, y1, x2, y2) in patches:
        img[y1:y2, x1:x2] = BGR[colour]
    cv2.imwrite(str(path), img)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gate")
    (root / "data/images/val").mkdir(parents=True)
    (root / "data/labels/val").mkdir(parents=True)
    (root / "data/data.yaml").write_text(
        "path: .\nval: images/val\nnames:\n  0: red_thing\n  1: green_thing\n"
    )
    for i in range(6):
        red, green = (4 + i, 4, 20 + i, 24), (30, 30 + i, 50, 56)
        _image(root / f"data/images/val/{i}.png", [("red", red), ("green", green)])
        lines = [
            f"{c} {(x1 + x2) / 128} {(y1 + y2) / 128} {(x2 - x1) / 64} {(y2 - y1) / 64}"
            for c, (x1, y1, x2, y2) in ((0, red), (1, green))
        ]
        (root / f"data/labels/val/{i}.txt").write_text("\n".join(lines) + "\n")
    (root / "neg").mkdir()
    for i in range(4):
        _image(root / f"neg/{i}.png", [("dim_green", (10, 10 + i, 40, 40))])
    small_model(root / "old.onnx")
    small_model(root / "lost_green.onnx", colours={0: "red", 1: "blue"})
    colour_patch_model(root / "jumpy.onnx", names=NAMES, colours=COLOURS, imgsz=(64, 64), high=0.45)
    small_model(root / "other_classes.onnx", names={0: "red_thing", 1: "blue_thing"})
    return root


def _compare(
    world: Path, new: str, capsys: pytest.CaptureFixture[str], negatives: bool = True
) -> tuple[int, dict[str, Any], str]:
    argv = ["model", "compare", "--old", str(world / "old.onnx"), "--new", str(world / new)]
    argv += ["--data", str(world / "data"), "--json"] + (
        ["--negatives", str(world / "neg")] if negatives else []
    )
    code = nce_main(argv)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def test_the_same_model_passes(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _err = _compare(world, "old.onnx", capsys)
    assert code == 0 and result["verdict"] == "pass"
    assert result["classes"] == {
        "red_thing": {"old_map50": 1.0, "new_map50": 1.0},
        "green_thing": {"old_map50": 1.0, "new_map50": 1.0},
    }
    assert result["negatives"] == {"old_per_100": 0.0, "new_per_100": 0.0}
    code, result, _err = _compare(world, "old.onnx", capsys, negatives=False)
    assert code == 0 and result["negatives"] is None


def test_a_model_that_lost_a_class_fails(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _err = _compare(world, "lost_green.onnx", capsys)
    assert code == 1 and result["verdict"] == "fail"
    assert result["classes"]["green_thing"] == {"old_map50": 1.0, "new_map50": 0.0}
    assert result["classes"]["red_thing"]["new_map50"] == 1.0


def test_more_false_detections_on_negatives_fail(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _err = _compare(world, "jumpy.onnx", capsys)
    assert code == 1 and result["verdict"] == "fail"
    assert all(c["new_map50"] == c["old_map50"] for c in result["classes"].values())
    assert result["negatives"] == {"old_per_100": 0.0, "new_per_100": 100.0}


def test_other_class_lists_cannot_be_compared(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, err = _compare(world, "other_classes.onnx", capsys)
    assert code == 2 and result == {}
    assert "the models detect other classes" in err and len(err.strip().splitlines()) == 1


def test_a_failed_gate_releases_only_with_force(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = release_keys(tmp_path / "keys")
    card = tmp_path / "card.md"
    card.write_text("# lost green\n")
    base = ["model", "release", "--model", str(world / "lost_green.onnx"), "--card", str(card)]
    base += ["--key", str(key), "--old", str(world / "old.onnx"), "--data", str(world / "data")]
    assert nce_main([*base, "--out", str(tmp_path / "r1")]) == 1
    assert "fails the evaluation gate" in capsys.readouterr().err and not (tmp_path / "r1").exists()
    assert nce_main([*base, "--out", str(tmp_path / "r2"), "--force", "red-only site, green unused"]) == 0
    record = verify_release(tmp_path / "r2", load_release_pubkey(pub))
    assert record.gate is not None and record.gate.verdict == "fail" and record.gate.forced
    assert record.gate.reason == "red-only site, green unused"
    assert record.metrics["map50.green_thing.new"] == 0.0 and record.metrics["map50.green_thing.old"] == 1.0


def test_a_passing_gate_is_signed_as_passed(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = release_keys(tmp_path / "keys")
    card = tmp_path / "card.md"
    card.write_text("# patch\n")
    argv = ["model", "release", "--model", str(world / "old.onnx"), "--card", str(card), "--key", str(key)]
    argv += [
        "--old",
        str(world / "old.onnx"),
        "--data",
        str(world / "data"),
        "--negatives",
        str(world / "neg"),
    ]
    assert nce_main([*argv, "--out", str(tmp_path / "r"), "--release-id", "patch-v2"]) == 0
    record = verify_release(tmp_path / "r", load_release_pubkey(pub))
    assert record.release_id == "patch-v2" and record.gate is not None
    assert (record.gate.verdict, record.gate.forced, record.gate.reason) == ("pass", False, None)
    assert record.metrics["negatives_per_100.new"] == 0.0


def test_the_shipped_model_against_itself_and_a_copy_that_lost_a_class(tmp_path: Path) -> None:
    """street-v1 on a fresh synthetic held-out set: the same model passes; a copy whose scores for the
    set's most frequent class are scaled to nothing fails on that class, and only on it."""
    from modeling.compare import compare_models
    from modeling.synth.backgrounds import DEFAULT_DATA_DIR
    from modeling.synth.dataset import synth_dataset

    if not (DEFAULT_DATA_DIR / "vtest.avi").is_file():
        pytest.skip("OpenCV sample data missing: run `make data`")
    shipped = Path(__file__).resolve().parents[1] / "models" / "street-v1.onnx"
    synth_dataset(tmp_path / "data", 12, seed=11, val_fraction=0.5, negatives=0.0)
    counts: dict[int, int] = {}
    for f in (tmp_path / "data" / "labels" / "val").glob("*.txt"):
        for line in f.read_text().splitlines():
            counts[int(line.split()[0])] = counts.get(int(line.split()[0]), 0) + 1
    lost = max(counts, key=lambda k: counts[k])
    degraded = scaled_scores_copy(shipped, tmp_path / "degraded.onnx", {lost: 0.0})
    same = compare_models(shipped, shipped, tmp_path / "data")
    assert same.verdict == "pass" and all(c.old_map50 == c.new_map50 for c in same.classes.values())
    worse = compare_models(shipped, degraded, tmp_path / "data")
    name = list(worse.classes)[lost]
    assert worse.verdict == "fail" and worse.classes[name].new_map50 == 0.0 < worse.classes[name].old_map50
    assert [r.split(":")[0] for r in worse.reasons()] == [name]
