"""The learning benchmark's loop, tiny (``bench_learning --quick``): shifted-domain sets, the
service and an edge box with learning on, reviews and labels through the HTTP API, an export,
a one-epoch fine-tune with replay at 160 px, ONNX export and the evaluations. Runs as
``make test-train`` (needs the train extra)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modeling.synth.backgrounds import DEFAULT_DATA_DIR

pytestmark = [
    pytest.mark.train,
    pytest.mark.optional("needs the train extra"),  # its own venv: make test-train
    pytest.mark.skipif(not (DEFAULT_DATA_DIR / "vtest.avi").is_file(), reason="run `make data` first"),
    pytest.mark.timeout(600),
]


def test_the_loop_runs_end_to_end_tiny(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics", reason="needs the train extra (make test-train)")
    os.environ["YOLO_OFFLINE"] = "1"
    from benchmarks.bench_learning import main

    res = tmp_path / "results"
    args = [
        "--quick",
        "--data",
        str(tmp_path / "data"),
        "--work",
        str(tmp_path / "work"),
        "--results",
        str(res),
    ]
    assert main(args) == 0
    doc = json.loads((res / "learning-quick.json").read_text())
    assert (res / "learning-quick.png").stat().st_size > 0 and not (
        res / "learning-quick.partial.json"
    ).exists()
    shipped, tuned = doc["rows"]
    assert (shipped["labelled"], tuned["labelled"]) == (0, 4)
    # the edge ran on the clip and delivered sample packages to the frame pool
    assert sum(doc["pool_after_edge"].values()) >= 1
    reviews = doc["reviews"]
    assert (
        reviews["cases"] == reviews["confirmed"] + reviews["dismissed_false_detection"] + reviews["no_still"]
    )
    # the export held the labelled frames; the fine-tune replayed synthetic frames by default
    exported = tuned["export"]["images"]
    assert exported["train"] + exported["val"] >= 4
    assert tuned["train"]["replay"] in ("synthesized", "cached")
    assert {s["kind"] for s in tuned["train"]["sources"]} == {"city_export", "synthetic_replay"}
    for row in (shipped, tuned):
        ev = row["eval"]
        assert 0.0 <= ev["shifted"]["map50"] <= 1.0 and 0.0 <= ev["original"]["map50"] <= 1.0
        assert ev["false_detections"]["frames"] == 8
        # every held-out shifted image is scored under its own look too
        assert sum(v["images"] for v in ev["shifted_by_look"].values()) == ev["shifted"]["images"]
    assert tuned["loop_min"] > 0 and any("labelled frames" in line for line in doc["verdicts"])
