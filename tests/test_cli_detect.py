"""`nce detect`: the --json contract, the table, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.cli import nce
from tests.support.onnx_models import WITHOUT_CUDA, constant_output_model, v8_raw

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    raw = v8_raw([(100, 58, 40, 20, 0, 0.9), (200, 100, 30, 30, 1, 0.6)], nc=2)
    return constant_output_model(tmp_path / "m.onnx", raw, imgsz=(256, 320), names={0: "横幅", 1: "stall"})


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "frame.jpg"
    cv2.imwrite(str(path), np.full((480, 640, 3), 90, dtype=np.uint8))
    return path


def test_json_contract(model: Path, image: Path) -> None:
    res = nce("detect", "--model", str(model), "--image", str(image), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # exactly one JSON object on stdout
    assert set(doc) == {"model", "detections"}
    assert doc["model"] == {
        "path": str(model),
        "names": {"0": "横幅", "1": "stall"},
        "imgsz": [256, 320],
        "providers": ["CPUExecutionProvider"],
    }
    assert [d["label"] for d in doc["detections"]] == ["横幅", "stall"]
    first = doc["detections"][0]
    assert set(first) == {"class_id", "label", "score", "box"}
    assert first["class_id"] == 0 and first["score"] == pytest.approx(0.9)
    assert first["box"] == pytest.approx([160.0, 80.0, 240.0, 120.0])


def test_table_and_thresholds(model: Path, image: Path) -> None:
    res = nce("detect", "--model", str(model), "--image", str(image), "--conf", "0.7")
    assert res.returncode == 0, res.stderr
    assert "1 detection(s)" in res.stdout and "横幅" in res.stdout


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("missing-model", "does not exist"),
        ("text-model", "is not an ONNX model"),
        ("missing-image", "does not exist"),
        ("text-image", "is not an image"),
        pytest.param("cuda", "CUDAExecutionProvider", marks=WITHOUT_CUDA),
    ],
)
def test_errors_are_one_line(tmp_path: Path, model: Path, image: Path, which: str, message: str) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_text("hello")
    args = {
        "missing-model": ["--model", str(tmp_path / "nope.onnx"), "--image", str(image)],
        "text-model": ["--model", str(junk), "--image", str(image)],
        "missing-image": ["--model", str(model), "--image", str(tmp_path / "nope.jpg")],
        "text-image": ["--model", str(model), "--image", str(junk)],
        "cuda": ["--model", str(model), "--image", str(image), "--providers", "CUDAExecutionProvider"],
    }[which]
    res = nce("detect", *args, "--json")
    assert res.returncode == 2
    assert res.stdout == ""
    lines = [line for line in res.stderr.splitlines() if line.startswith("nce detect: error:")]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_runtime_path_never_imports_training_libraries(model: Path, image: Path) -> None:
    code = (
        "import sys; from nce.cli import main; "
        f"main(['detect', '--model', {str(model)!r}, '--image', {str(image)!r}, '--json']); "
        "bad = [m for m in ('torch', 'ultralytics', 'fastapi', 'sqlalchemy') if m in sys.modules]; "
        "print('LOADED', bad, file=sys.stderr)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "LOADED []" in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ("CPU", "unknown execution provider 'CPU': did you mean CPUExecutionProvider?"),
        ("cuda", "unknown execution provider 'cuda': did you mean CUDAExecutionProvider?"),
        ("cpuexecutionprovider", "did you mean CPUExecutionProvider?"),
        ("CPUExecutionProvider,warp-drive", "unknown execution provider 'warp-drive': this onnxruntime"),
    ],
)
def test_an_unknown_provider_name_is_one_line_naming_the_valid_ones(
    model: Path, image: Path, providers: str, message: str
) -> None:
    res = nce("detect", "--model", str(model), "--image", str(image), "--providers", providers)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr  # not ONNX Runtime's own warning block
    assert lines[0].startswith("nce detect: error: ") and message in lines[0]
    assert "all valid names: " in lines[0] and "CPUExecutionProvider" in lines[0]


def test_a_grayscale_image_is_converted_and_said_so(tmp_path: Path, model: Path) -> None:
    gray = tmp_path / "ir.png"
    cv2.imwrite(str(gray), np.full((480, 640), 90, dtype=np.uint8))
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.full((480, 640, 3), 90, dtype=np.uint8))
    res = nce("detect", "--model", str(model), "--image", str(gray), "--json")
    assert res.returncode == 0, res.stderr
    assert f"{gray} is grayscale: converted to 3 equal channels" in res.stderr
    same = nce("detect", "--model", str(model), "--image", str(colour), "--json")
    assert json.loads(res.stdout)["detections"] == json.loads(same.stdout)["detections"]
    assert "grayscale" not in same.stderr
