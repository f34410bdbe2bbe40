"""The score-threshold rule (service.thresholds), table-driven: too few reviews, confirmations that
score low, a clear separation (the right grid step), the current threshold as the floor, the window,
and the YAML lines, which the edge's config loader takes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config.load import parse_site_config
from service.settings import Settings
from service.thresholds import (
    Proposal,
    Review,
    ThresholdRules,
    best,
    camera_setting_lines,
    effect_line,
    grid,
    propose,
    yaml_lines,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
RULES = ThresholdRules(min_reviewed=10, min_removed=0.5, max_lost=0.05, step=0.05, days=30)


def reviews(
    confirmed: list[float],
    false: list[float],
    *,
    camera: str = "cam-01",
    label: str = "stall",
    days_ago: float = 1,
    current: float | None = 0.35,
    violation: str = "out_of_shop_trading",
) -> list[Review]:
    at = NOW - dt.timedelta(days=days_ago)
    scores = [(s, True) for s in confirmed] + [(s, False) for s in false]
    return [
        Review(i, camera, label, s, ok, at, violation, current) for i, (s, ok) in enumerate(scores, start=1)
    ]


CLEAR_CONF = [0.7, 0.75, 0.8, 0.85, 0.9, 0.9, 0.92, 0.95, 0.6, 0.65]
CLEAR_FALSE = [0.36, 0.38, 0.4, 0.41, 0.44, 0.47, 0.52, 0.55]


@pytest.mark.parametrize(
    ("case", "data", "expected"),
    [
        # 10 confirmed, 8 false between 0.36 and 0.55: 0.45 removes 5 of 8 (≥ half), loses none
        ("clear separation", reviews(CLEAR_CONF, CLEAR_FALSE), [("cam-01", "stall", 0.45, 5, 0)]),
        ("too few reviews", reviews(CLEAR_CONF[:5], CLEAR_FALSE[:4]), []),
        # the confirmations score low, the false detections high: no threshold keeps 95 % of them
        ("confirmations score low", reviews([0.36, 0.37, 0.38, 0.4, 0.4, 0.41, 0.42], [0.8, 0.85, 0.9, 0.95]), []),
        ("no false detections", reviews(CLEAR_CONF + CLEAR_CONF, []), []),
        # the current threshold is the floor: from 0.45, the next steps up
        ("floor at current", reviews(CLEAR_CONF, [0.46, 0.47, 0.48, 0.5, 0.52, 0.55]), [("cam-01", "stall", 0.5, 3, 0)]),
        ("unknown current", reviews(CLEAR_CONF, CLEAR_FALSE, current=None), [("cam-01", "stall", 0.45, 5, 0)]),
        ("outside the window", reviews(CLEAR_CONF, CLEAR_FALSE, days_ago=31), []),
        ("in the future", reviews(CLEAR_CONF, CLEAR_FALSE, days_ago=-1), []),
        # one confirmation in 20 may go (5 %), two may not
        ("one of twenty lost", reviews(CLEAR_CONF + CLEAR_CONF[:9] + [0.4], CLEAR_FALSE), [("cam-01", "stall", 0.45, 5, 1)]),
        ("two of twenty lost", reviews(CLEAR_CONF + CLEAR_CONF[:8] + [0.4, 0.4], CLEAR_FALSE), []),
        # cameras and classes are apart: one has the evidence, the other not
        (
            "per camera and class",
            reviews(CLEAR_CONF, CLEAR_FALSE) + reviews(CLEAR_CONF[:3], CLEAR_FALSE, camera="cam-02")
            + reviews(CLEAR_CONF[:3], CLEAR_FALSE, label="goods"),
            [("cam-01", "stall", 0.45, 5, 0), ("cam-01", "goods", 0.45, 5, 0), ("cam-02", "stall", 0.45, 5, 0)],
        ),
    ],
)  # fmt: skip
def test_the_rule(case: str, data: list[Review], expected: list[tuple[str, str, float, int, int]]) -> None:
    found = propose(data, RULES, now=NOW)
    assert sorted((p.camera_id, p.label, p.proposed, p.removed, p.lost) for p in found) == sorted(expected), (
        case
    )


def test_the_proposal_carries_its_data_and_effect() -> None:
    (p,) = propose(reviews(CLEAR_CONF, CLEAR_FALSE), RULES, now=NOW)
    assert (p.confirmed, p.false, p.current, p.violations) == (10, 8, 0.35, ("out_of_shop_trading",))
    assert p.false_scores == tuple(sorted(CLEAR_FALSE)) and p.confirmed_scores == tuple(sorted(CLEAR_CONF))
    assert effect_line(p) == "would have removed 5 of 8 false detections and lost 0 of 10 confirmed"


def test_the_latest_reviews_current_threshold_is_the_current_one() -> None:
    old = reviews(CLEAR_CONF, CLEAR_FALSE[:4], days_ago=5, current=0.35)
    new = reviews([], CLEAR_FALSE[4:], days_ago=1, current=0.45)
    (p,) = propose(old + new, RULES, now=NOW)
    assert (p.current, p.proposed, p.removed) == (0.45, 0.5, 6)


@pytest.mark.parametrize(
    ("current", "step", "expected"),
    [
        (0.35, 0.05, [0.4, 0.45, 0.5]),
        (None, 0.25, [0.25, 0.5, 0.75, 1.0]),
        (0.3, 0.1, [0.4, 0.5, 0.6]),  # 0.3 itself is not above the current one
        (1.0, 0.05, []),
    ],
)
def test_the_grid(current: float | None, step: float, expected: list[float]) -> None:
    assert grid(current, step)[: len(expected) or None] == expected


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (ThresholdRules(min_removed=0.5), (0.45, 5, 0)),
        (ThresholdRules(min_removed=1.0), (0.6, 8, 0)),  # every false one: up to 0.6, still no loss
        (ThresholdRules(min_removed=1.0, step=0.25), None),  # 0.5 removes 6 of 8; 0.75 loses 3 of 10
        (ThresholdRules(min_removed=1.0, max_lost=0.3, step=0.25), (0.75, 8, 3)),
    ],
)
def test_best_under_other_rules(rules: ThresholdRules, expected: tuple[float, int, int] | None) -> None:
    assert best(sorted(CLEAR_CONF), sorted(CLEAR_FALSE), 0.35, rules) == expected


def test_the_settings_are_typed_and_env_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCE_THRESHOLD_MIN_REVIEWED", "40")
    monkeypatch.setenv("NCE_THRESHOLD_MAX_LOST", "0.1")
    rules = ThresholdRules.of(Settings.load(demo=True))
    assert (rules.min_reviewed, rules.max_lost, rules.min_removed, rules.step, rules.days) == (
        40,
        0.1,
        0.5,
        0.05,
        30,
    )


def _site(**rule_scores: float) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (ROOT / "configs" / "site.example.yaml").read_text(encoding="utf-8")
    )
    for rule in data["rules"]:
        if rule["violation"] in rule_scores:
            rule["min_score"] = rule_scores[rule["violation"]]
    return data


def test_the_yaml_lines_set_rules_min_score_and_the_edge_takes_them() -> None:
    found = propose(
        reviews(CLEAR_CONF, CLEAR_FALSE, label="stall")
        + reviews(CLEAR_CONF, [0.5, 0.52, 0.55, 0.56, 0.58, 0.6], label="goods"),
        RULES,
        now=NOW,
    )
    assert [(p.label, p.proposed) for p in found] == [("goods", 0.6), ("stall", 0.45)]
    text = yaml_lines(found)
    items = yaml.safe_load(text)
    # one knob per rule: the strictest of its classes
    assert items == [{"violation": "out_of_shop_trading", "min_score": 0.6}]
    assert "# camera cam-01, classes goods, stall" in text
    site = _site(**{i["violation"]: i["min_score"] for i in items})
    config = parse_site_config(site, base_dir=ROOT / "configs")
    assert {r.min_score for r in config.rules if r.violation == "out_of_shop_trading"} == {0.6}
    assert yaml.safe_load(yaml_lines([])) == []


def test_a_proposal_is_plain_data() -> None:
    p = Proposal("c", "stall", None, 0.5, 1, 1, 1, 0, ("x",), (0.9,), (0.4,))
    assert p.current is None and p.proposed == 0.5


def test_the_camera_settings_lines_take_each_cameras_strictest_class() -> None:
    found = [
        Proposal("cam-01", "stall", 0.35, 0.45, 20, 8, 5, 0, ("out_of_shop_trading",), (0.9,), (0.4,)),
        Proposal("cam-01", "goods", 0.35, 0.6, 20, 8, 5, 0, ("out_of_shop_trading",), (0.9,), (0.4,)),
        Proposal("cam-02", "ad_board", None, 0.5, 20, 8, 5, 0, ("illegal_ad",), (0.9,), (0.4,)),
    ]
    assert camera_setting_lines(found, {"cam-01": "edge-a"}).splitlines() == [
        "# camera cam-01, classes goods, stall",
        "nce admin camera-settings --db URL --device edge-a --camera cam-01 --min-score 0.6",
        "# camera cam-02, classes ad_board",
        "nce admin camera-settings --db URL --device DEVICE --camera cam-02 --min-score 0.5",
    ]
    assert camera_setting_lines([], {}) == ""
