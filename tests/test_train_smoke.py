"""The whole training path, tiny: synth a few images -> train 1 epoch at 64 px -> export ONNX ->
``nce model eval`` with NCE's own runtime. Runs as ``make test-train`` (the `train` extra is large)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from modeling.synth import CLASSES
from modeling.synth.backgrounds import DEFAULT_DATA_DIR
from nce.cli import main

pytestmark = [
    pytest.mark.train,
    pytest.mark.optional("needs the train extra"),  # its own venv: make test-train
    pytest.mark.skipif(not (DEFAULT_DATA_DIR / "vtest.avi").is_file(), reason="run `make data` first"),
]


def test_synth_train_export_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ultralytics", reason="needs the train extra (make test-train)")
    os.environ["YOLO_OFFLINE"] = "1"
    from ultralytics.utils import USER_CONFIG_DIR

    fonts_before = {p.name for p in Path(USER_CONFIG_DIR).glob("*.ttf")}
    ds = tmp_path / "ds"
    assert main(["data", "synth", "--out", str(ds), "--n", "10", "--seed", "1", "--json"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "model",
                "train",
                "--data",
                str(ds / "data.yaml"),
                "--epochs",
                "1",
                "--imgsz",
                "64",
                "--batch",
                "4",
                "--workers",
                "0",
                "--out",
                str(tmp_path / "runs"),
                "--name",
                "smoke",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(_last_json(capsys, None))
    weights = Path(res["weights"])
    assert weights.is_file()
    onnx_path = tmp_path / "smoke.onnx"
    assert (
        main(
            ["model", "export", "--weights", str(weights), "--out", str(onnx_path), "--imgsz", "64", "--json"]
        )
        == 0
    )
    exported = json.loads(_last_json(capsys, None))
    assert onnx_path.is_file() and exported["names"] == {str(i): n for i, n in enumerate(CLASSES)}

    from detector.yolo import YoloDetector

    det = YoloDetector(onnx_path, providers=["CPUExecutionProvider"])
    assert det.info.names == dict(enumerate(CLASSES))
    assert main(["model", "eval", "--model", str(onnx_path), "--data", str(ds), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"map50", "map50_95", "per_class"} <= set(report)
    assert set(report["per_class"]) == set(CLASSES)
    # fine-tune the exported model: its weights are rebuilt into a checkpoint that computes what the
    # ONNX model computes, then trained like any other
    from modeling.onnx_checkpoint import checkpoint_from_onnx

    rebuilt = checkpoint_from_onnx(onnx_path, tmp_path / "rebuilt.pt", [ds / "images" / "train"], n_images=4)
    assert rebuilt.arch == "yolo11n.yaml" and rebuilt.names == dict(enumerate(CLASSES))
    assert rebuilt.max_abs_diff < 1e-2 and rebuilt.tensors > 100
    tune = ["model", "train", "--data", str(ds / "data.yaml"), "--model", str(onnx_path), "--epochs", "1"]
    tune += ["--imgsz", "64", "--batch", "4", "--workers", "0", "--threads", "1", "--arch", "yolo11n.yaml"]
    tune += ["--warmup-epochs", "0.5", "--freeze", "3"]
    assert main([*tune, "--out", str(tmp_path / "runs"), "--name", "tuned", "--json"]) == 0
    tuned = json.loads(_last_json(capsys, None))
    assert Path(tuned["weights"]).is_file() and (tmp_path / "runs" / "tuned.from-onnx.pt").is_file()
    # --freeze 3 reaches Ultralytics (modules 0-2 keep the rebuilt weights and batch-norm statistics; two
    # iterations move the rest too little to tell apart from fp16 rounding, so the run's arguments say it)
    run_args = yaml.safe_load((Path(tuned["run_dir"]) / "args.yaml").read_text())
    assert run_args["freeze"] == 3

    # offline: no font (Arial.ttf for plots) or weights were fetched
    assert {p.name for p in Path(USER_CONFIG_DIR).glob("*.ttf")} == fonts_before
    assert not list(tmp_path.rglob("yolo11n.pt")) and not Path("yolo11n.pt").exists()


def _last_json(capsys: pytest.CaptureFixture[str], _: object) -> str:
    """The JSON object printed last on stdout (Ultralytics may print its own lines before it)."""
    out = capsys.readouterr().out
    start = out.rfind("\n{")
    return out[start + 1 :] if start >= 0 else out[out.index("{") :]
