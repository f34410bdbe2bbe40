"""benchmarks/bench_gpu.py without a GPU: it records *not measured* and why, and its parts run (on
the CPU, ``--dry-run``) and write their rows, so that a session lent a GPU can run it once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from tests.support.onnx_models import without_cuda

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "benchmarks.bench_gpu", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False)


@without_cuda
def test_without_a_gpu_it_says_not_measured_and_why(tmp_path: Path) -> None:
    res = bench("--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert doc["measured"] is False and "parts" not in doc
    assert any("offers no CUDA/TensorRT provider" in r for r in doc["reasons"])
    assert doc["available_providers"] == ort.get_available_providers()
    text = (tmp_path / "gpu.md").read_text()
    assert "**Not measured.**" in text and "not measured |" in text


def test_dry_run_parts_write_their_rows(tmp_path: Path) -> None:
    res = bench("--out", str(tmp_path), "--dry-run", "--parts", "decode,detector", "--budget-s", "200")
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert doc["measured"] is False and doc["dry_run"] is True
    assert set(doc["parts"]) == {"detector", "decode"}
    for part in doc["parts"].values():
        assert part["status"] == "done" and part["rows"], part
    detector = doc["parts"]["detector"]["rows"]
    assert [r["batch"] for r in detector] == [1, 8] and all(r["detect_fps"] > 0 for r in detector)
    decode = [r for r in doc["parts"]["decode"]["rows"] if "codec" in r]
    assert {r["codec"] for r in decode} == {"h264", "hevc"} and all(r["fps_total"] > 0 for r in decode)
    assert "Dry run on the CPU" in (tmp_path / "gpu.md").read_text()


def test_a_part_cut_off_by_its_timeout_keeps_its_status(tmp_path: Path) -> None:
    res = bench("--out", str(tmp_path), "--dry-run", "--parts", "cameras", "--budget-s", "25")
    assert res.returncode == 0, res.stderr
    part = json.loads((tmp_path / "gpu.json").read_text())["parts"]["cameras"]  # its nce run ended too
    assert part["status"].startswith("timed out after 10 s")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "nce-gpu-cams-" not in ps  # its nce run (config in that temporary folder) ended with it
    assert not (tmp_path / "tmp-cameras").exists()  # nor its temporary files
