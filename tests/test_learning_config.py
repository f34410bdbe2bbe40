"""Site config ``learning`` and ``cameras[].masks``: defaults, the example, and broken values that
name file, field and reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config import DETECTOR_CLASSES, load_site_config, parse_site_config
from detector.errors import ConfigError
from tests.support.cli import nce

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "site.example.yaml"
MASK = {"classes": ["ad_board"], "polygon": [[0.6, 0.1], [0.8, 0.1], [0.8, 0.4], [0.6, 0.4]]}


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_example_shows_learning_disabled_and_no_masks() -> None:
    config = load_site_config(EXAMPLE)
    assert config.learning.enabled is False
    assert config.learning.low_conf == (0.15, 0.35)
    assert config.learning.periodic_hours is not None
    assert config.cameras[0].masks == []


def test_learning_is_optional_and_off_by_default() -> None:
    data = example()
    del data["learning"]
    config = parse_site_config(data)
    s = config.learning
    assert not s.enabled
    assert (s.daily_budget, s.budget.low_confidence, s.budget.near_miss, s.budget.periodic) == (
        200,
        100,
        50,
        48,
    )
    assert s.periodic_every_s == 3600 and s.periodic_hours is None and s.min_gap_s == 60


def test_masks_load_with_the_polygon_as_fractions() -> None:
    data = example()
    data["cameras"][0]["masks"] = [MASK]
    mask = parse_site_config(data).cameras[0].masks[0]
    assert mask.classes == ["ad_board"]
    assert mask.polygon[1] == (0.8, 0.1)


BROKEN: list[tuple[str, Any, str, str]] = [
    # (where in the config, the value, expected problem path, expected reason fragment)
    ("learning.low_conf", [0.4, 0.2], "learning.low_conf", "0 < low < high <= 1, got [0.4, 0.2]"),
    ("learning.low_conf", [0.3, 0.3], "learning.low_conf", "0 < low < high <= 1"),
    ("learning.low_conf", [0.0, 0.3], "learning.low_conf", "0 < low < high <= 1"),
    ("learning.low_conf", [0.2, 1.5], "learning.low_conf", "0 < low < high <= 1"),
    ("learning.low_conf", [0.2], "learning.low_conf", "[low, high)"),
    ("learning.low_conf", ["low", "high"], "learning.low_conf", "[low, high)"),
    ("learning.low_conf", [True, 0.5], "learning.low_conf", "[low, high)"),
    ("learning.daily_budget", -1, "learning.daily_budget", "greater than or equal to 0"),
    ("learning.budget.near_miss", -3, "learning.budget.near_miss", "greater than or equal to 0"),
    ("learning.budget.rare", 3, "learning.budget.rare", "unknown key"),
    ("learning.periodic_every_s", 30, "learning.periodic_every_s", "0 (none) or at least 60 seconds"),
    ("learning.periodic_every_s", 90000, "learning.periodic_every_s", "less than or equal to 86400"),
    ("learning.periodic_hours", {"from": "25:00", "to": "08:00"}, "learning.periodic_hours.from", "HH:MM"),
    ("learning.min_gap_s", -1, "learning.min_gap_s", "greater than or equal to 0"),
    ("learning.sample_rate", 1, "learning.sample_rate", "unknown key"),
    ("cameras.0.masks", [{**MASK, "classes": ["ad_board", "car"]}], "cameras[0].masks[0].classes", "unknown class 'car'"),
    ("cameras.0.masks", [{**MASK, "classes": []}], "cameras[0].masks[0].classes", "at least 1"),
    ("cameras.0.masks", [{**MASK, "classes": ["poster", "poster"]}], "cameras[0].masks[0].classes", "duplicate class 'poster'"),
    ("cameras.0.masks", [{"classes": ["stall"]}], "cameras[0].masks[0].polygon", "required field is missing"),
    (
        "cameras.0.masks",
        [{**MASK, "polygon": [[0.1, 0.1], [1.2, 0.1], [0.5, 0.9]]}],
        "cameras[0].masks[0].polygon",
        "point 1 [1.2, 0.1] is outside the frame",
    ),
    (
        "cameras.0.masks",
        [{**MASK, "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}],
        "cameras[0].masks[0].polygon",
        "no area",
    ),
    ("cameras.0.masks", [{**MASK, "polygon": [[0.1, 0.1], [0.2, 0.2]]}], "cameras[0].masks[0].polygon", "at least 3"),
    ("cameras.0.masks", [{**MASK, "zone": "z1"}], "cameras[0].masks[0].zone", "unknown key"),
]  # fmt: skip


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    target: Any = data
    for k in keys[:-1]:
        target = target.setdefault(k, {}) if isinstance(target, dict) else target[k]
    target[keys[-1]] = value


@pytest.mark.parametrize(("path", "value", "where", "why"), BROKEN)
def test_broken_learning_and_masks(tmp_path: Path, path: str, value: Any, where: str, why: str) -> None:
    data = copy.deepcopy(example())
    _set(data, path, value)
    file = tmp_path / "site.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_site_config(file)
    matching = [p for p in info.value.problems if p.path == where]
    assert matching, f"no problem at {where}: {info.value.problems}"
    assert why in matching[0].message, matching[0].message
    assert str(matching[0]).startswith(f"{file}: {where}: ")


def test_the_unknown_class_message_lists_the_detector_classes() -> None:
    data = example()
    data["cameras"][0]["masks"] = [{**MASK, "classes": ["car"]}]
    with pytest.raises(ConfigError) as info:
        parse_site_config(data, "site.yaml")
    (problem,) = info.value.problems
    assert problem.message == f"unknown class 'car' (detector classes: {', '.join(DETECTOR_CLASSES)})"


def test_learning_needs_a_device_key() -> None:
    data = example()
    data["learning"]["enabled"] = True
    del data["device"], data["uplink"]
    with pytest.raises(ConfigError) as info:
        parse_site_config(data, "site.yaml")
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("learning.enabled", "sample packages are signed: set device.id and device.key_file too")
    ]


def test_config_check_shows_masks_and_learning(tmp_path: Path) -> None:
    data = example()
    data["learning"]["enabled"] = True
    data["cameras"][0]["masks"] = [MASK]
    file = tmp_path / "site.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    done = nce("config", "check", "--no-files", str(file))
    assert done.returncode == 0, done.stderr
    assert "z-wall-no-ads (no_ads); 1 mask(s)" in done.stdout
    assert "learning: up to 200 sample(s) per camera and day (low_confidence [0.15, 0.35)" in done.stdout
