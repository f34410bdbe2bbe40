"""The shipped model's card quotes its measurements: the model file's hash, and the headline numbers of
``models/street-v1.metrics.json`` (written by ``python -m benchmarks.model_metrics``), so a model cannot be
replaced, or re-measured, without the card following."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from detector.config import DEFAULT_CONF
from nce.hashing import sha256_file

MODELS = Path(__file__).resolve().parents[1] / "models"
MODEL = MODELS / "street-v1.onnx"
CARD = (MODELS / "street-v1.md").read_text()
METRICS = json.loads((MODELS / "street-v1.metrics.json").read_text())
CLASSES = ["stall", "goods", "umbrella", "banner", "ad_board", "poster", "garbage"]


def _row(table_header: str, name: str) -> list[str]:
    """The cells of row ``name`` in the card's table whose header row starts with ``table_header``."""
    table = CARD[CARD.index(table_header) :]
    for line in table.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} under {table_header!r}")


def test_card_and_metrics_name_the_shipped_file() -> None:
    digest = sha256_file(MODEL)
    assert METRICS["model_sha256"] == digest, "models/street-v1.metrics.json measured another model"
    assert re.search(rf"sha256 `{digest}`", CARD), "the card's sha256 is not the shipped file's"


@pytest.mark.parametrize("name", [*CLASSES, "all"])
def test_card_quotes_the_held_out_map50(name: str) -> None:
    cells = _row("| class | synth-v2 val", name)
    for column, key in ((4, "eval-v2-val"), (6, "eval-v1-val"), (7, "eval-v3-val"), (8, "eval-v4-val")):
        report = METRICS[key]
        value = report["map50"] if name == "all" else report["per_class"][name]["ap50"]
        assert cells[column] == f"{value:.3f}", (name, key)


@pytest.mark.parametrize("name", CLASSES)
def test_card_quotes_the_false_positive_rates(name: str) -> None:
    cells = _row("| class | all 795 frames", name)
    keys = ["fp-vtest-all-025", "fp-vtest-heldout-025", "fp-vtest-all-035", "fp-vtest-heldout-035"]
    for column, key in enumerate(keys, start=1):
        assert cells[column] == f"{METRICS[key]['per_class'][name]['per_100_frames']:.2f}", (name, key)
    assert METRICS["fp-vtest-all-035"]["conf"] == DEFAULT_CONF, "the 0.35 columns are the default threshold"
