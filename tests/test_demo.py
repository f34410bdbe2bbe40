"""`nce demo --exit --json`: the whole chain on the scenario clip with the shipped model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import nce

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "street-v1.onnx"
VTEST = (
    ROOT / "data" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data" / "vtest.avi"
)


def _demo(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return nce("demo", "--exit", *args, timeout=timeout)


@pytest.mark.skipif(not VTEST.is_file(), reason="OpenCV sample data missing: run `make data`")
def test_demo_files_cases_and_verifies_packages(tmp_path: Path) -> None:
    res = _demo("--json", "--port", "0", "--dir", str(tmp_path / "demo"), timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)  # exactly one JSON object on stdout
    assert {"hits", "cases", "verified", "url"} <= set(summary)
    assert summary["hits"] >= 3, summary
    assert 1 <= summary["cases"] <= summary["hits"]
    assert summary["verified"] >= summary["hits"]  # a package per confirmed hit (+ cleared ones)
    assert summary["pending"] == 0 and summary["poisoned"] == 0
    assert summary["samples"] >= 1, "learning is on in the demo: sample packages for the frame pool"
    assert summary["ledger_entries"] >= summary["verified"]  # each ingested package is in the ledger
    assert summary["url"].startswith("http://127.0.0.1:")
    # the demo imports the scenario's shops (nce admin import-shops): a 出店经营 case names its party
    assert "S-0001 好又多水果店" in summary["parties"], summary["parties"]
    assert summary["dir"] == str((tmp_path / "demo").resolve())
    packages = list((tmp_path / "demo" / "edge" / "evidence").glob("*/manifest.json"))
    assert len(packages) == summary["verified"]


def test_demo_without_model_is_one_line_error(tmp_path: Path) -> None:
    res = _demo("--dir", str(tmp_path), "--model", str(tmp_path / "x.onnx"), timeout=120)
    assert res.returncode == 2
    assert "model" in res.stderr and "not found" in res.stderr and "Traceback" not in res.stderr
