"""mAP, precision and recall on hand-made predictions with known answers; nce model eval end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.errors import DataError
from modeling.evaluation import (
    IOU_THRESHOLDS,
    ImageResult,
    average_precision,
    compute_metrics,
    evaluate_dataset,
    iou_matrix,
    match,
)
from nce.cli import main
from tests.support.onnx_models import constant_output_model, e2e_raw

NAMES = {0: "stall", 1: "goods"}


def _img(gt: list[tuple[float, ...]], preds: list[tuple[float, ...]]) -> ImageResult:
    """gt rows (x1, y1, x2, y2, cls); pred rows (x1, y1, x2, y2, score, cls)."""
    g = np.array(gt, np.float64).reshape(-1, 5)
    p = np.array(preds, np.float64).reshape(-1, 6)
    return ImageResult(g[:, :4], g[:, 4].astype(np.int64), p[:, :4], p[:, 4], p[:, 5].astype(np.int64))


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10]], np.float64)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 7.2]], np.float64)
    assert iou_matrix(a, b) == pytest.approx(np.array([[1.0, 50 / 150, 0.0, 0.72]]))


def test_perfect_predictions_score_one() -> None:
    res = [_img([(0, 0, 10, 10, 0), (20, 20, 40, 40, 1)], [(0, 0, 10, 10, 0.9, 0), (20, 20, 40, 40, 0.8, 1)])]
    per, means = compute_metrics(res, NAMES)
    assert means["map50"] == 1.0 and means["map50_95"] == 1.0
    assert per["stall"].precision == 1.0 and per["goods"].recall == 1.0


def test_iou_072_counts_at_five_of_ten_thresholds() -> None:
    res = [_img([(0, 0, 10, 10, 0)], [(0, 0, 10, 7.2, 0.9, 0)])]
    per, means = compute_metrics(res, {0: "stall"})
    assert per["stall"].ap50 == 1.0
    assert per["stall"].ap50_95 == pytest.approx(0.5)
    assert means["map50_95"] == pytest.approx(0.5)


def test_false_positive_ranked_first_halves_precision() -> None:
    # two objects; the best-scored detection is wrong, the second finds one object, the other is missed
    res = [
        _img([(0, 0, 10, 10, 0), (50, 50, 60, 60, 0)], [(100, 100, 110, 110, 0.9, 0), (0, 0, 10, 10, 0.8, 0)])
    ]
    per, _ = compute_metrics(res, {0: "stall"})
    # precision envelope 0.5 for recall points 0.00..0.50 (51 of 101), 0 beyond
    assert per["stall"].ap50 == pytest.approx(51 * 0.5 / 101, abs=1e-4)
    assert per["stall"].precision == 0.5 and per["stall"].recall == 0.5


def test_duplicate_is_a_false_positive_and_wrong_class_does_not_match() -> None:
    tp = match(
        np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float), np.array([0.9, 0.8]), np.array([[0, 0, 10, 10.0]])
    )
    assert tp[:, 0].tolist() == [True, False]
    res = [_img([(0, 0, 10, 10, 0)], [(0, 0, 10, 10, 0.9, 1)])]
    per, means = compute_metrics(res, NAMES)
    assert per["stall"].ap50 == 0.0 and per["stall"].recall == 0.0
    assert per["goods"].instances == 0  # no ground truth: left out of the means
    assert means["map50"] == 0.0


def test_average_precision_edge_cases() -> None:
    t = len(IOU_THRESHOLDS)
    assert np.isnan(average_precision(np.zeros((0, t), bool), np.zeros(0), 0)).all()
    assert (average_precision(np.zeros((0, t), bool), np.zeros(0), 3) == 0).all()
    # recall 1/2 at precision 1 then nothing: AP = 51/101
    ap = average_precision(np.ones((1, t), bool), np.array([0.5]), 2)
    assert ap[0] == pytest.approx(51 / 101)


def test_pr_threshold_ignores_low_scores_but_map_uses_them() -> None:
    res = [_img([(0, 0, 10, 10, 0)], [(0, 0, 10, 10, 0.1, 0)])]
    per, _ = compute_metrics(res, {0: "stall"}, pr_conf=0.25)
    assert per["stall"].ap50 == 1.0 and per["stall"].recall == 0.0 and per["stall"].detections == 0


def _dataset(root: Path) -> None:
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(root / "images" / "val" / f"im{i}.png"), np.full((64, 64, 3), 90, np.uint8))
    # both images: a stall at 8..24 (x and y) and goods at 32..56 x 40..60
    for i in range(2):
        (root / "labels" / "val" / f"im{i}.txt").write_text(
            "0 0.25 0.25 0.25 0.25\n1 0.6875 0.78125 0.375 0.3125\n"
        )
    (root / "data.yaml").write_text(
        f"path: {root}\ntrain: images/val\nval: images/val\nnames: {{0: stall, 1: goods}}\n"
    )


def test_eval_end_to_end_with_a_real_onnx_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the model "finds" the stall exactly and puts goods 50 % off (IoU < 0.5) in every image
    raw = e2e_raw([(8, 8, 24, 24, 0.9, 0), (44, 40, 68, 60, 0.8, 1)])
    model = constant_output_model(tmp_path / "m.onnx", raw, imgsz=(64, 64), names=NAMES, end2end=True)
    _dataset(tmp_path / "ds")
    rep = evaluate_dataset(model, tmp_path / "ds")
    assert rep.images == 2 and rep.instances == 4
    assert rep.per_class["stall"].ap50 == 1.0 and rep.per_class["stall"].ap50_95 == 1.0
    assert rep.per_class["goods"].ap50 == 0.0
    assert rep.map50 == 0.5
    assert main(["model", "eval", "--model", str(model), "--data", str(tmp_path / "ds"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["map50"] == 0.5 and set(out["per_class"]) == {"stall", "goods"} and "map50_95" in out


def test_eval_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = e2e_raw([(8, 8, 24, 24, 0.9, 0)])
    model = constant_output_model(tmp_path / "m.onnx", raw, imgsz=(64, 64), names=NAMES, end2end=True)
    with pytest.raises(DataError, match="no such folder"):
        evaluate_dataset(model, tmp_path / "missing")
    _dataset(tmp_path / "ds")
    (tmp_path / "ds" / "data.yaml").write_text(
        f"path: {tmp_path / 'ds'}\nval: images/val\nnames: [stall, bike]\n"
    )
    with pytest.raises(DataError, match="'bike' is not one of the model's classes"):
        evaluate_dataset(model, tmp_path / "ds")
    assert main(["model", "eval", "--model", str(model), "--data", str(tmp_path / "nope")]) != 0
    err = capsys.readouterr().err
    assert "no such folder" in err and "Traceback" not in err


def _video(path: Path, n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 64))
    for i in range(n):
        writer.write(np.full((64, 64, 3), 40 + i, np.uint8))
    writer.release()
    return path


def test_fpcheck_counts_per_100_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from modeling.evaluation import fp_check

    raw = e2e_raw([(8, 8, 24, 24, 0.9, 0), (30, 30, 50, 50, 0.2, 1)])
    model = constant_output_model(tmp_path / "m.onnx", raw, imgsz=(64, 64), names=NAMES, end2end=True)
    video = _video(tmp_path / "v.avi", 20)
    rep = fp_check(model, video, conf=0.25)
    assert rep.frames == 20
    assert (
        rep.per_class["stall"].per_100_frames == 100.0 and rep.per_class["stall"].frames_with_detection == 20
    )
    assert rep.per_class["goods"].detections == 0  # below the threshold
    rep = fp_check(model, video, conf=0.1, start=10, stride=5)
    assert rep.frames == 2 and rep.per_class["goods"].per_100_frames == 100.0
    with pytest.raises(DataError, match="bad frame range"):
        fp_check(model, video, start=5, end=5)
    assert main(["model", "fpcheck", "--model", str(model), "--video", str(tmp_path / "none.avi")]) != 0
    assert "no such file" in capsys.readouterr().err
