"""Learning samples on synthetic detections: each reason, the budget, the least gap, the reset at
local midnight (the frames' own clock), and the masks that keep detections out of it all."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from detector.config import LearningSettings, SiteConfig, parse_site_config
from detector.detections import Detections
from detector.events import Frame, HitEvent, LearningSample
from detector.learning import SampleSelector, split_below
from detector.masks import DetectionMasks
from detector.rules import RuleEngine

TZ = ZoneInfo("Asia/Shanghai")
# 2026-11-26 10:00 local; the frames' clock is what the budget and the slots follow
T0 = dt.datetime(2026, 11, 26, 10, 0, 0, tzinfo=TZ).astimezone(dt.UTC)
NAMES = {0: "stall", 1: "banner", 2: "person"}
ZONE = [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]]  # the left half of the frame's bottom half
H, W = 100, 200
IMAGE = np.zeros((H, W, 3), np.uint8)
IN_ZONE = (20.0, 60.0, 40.0, 90.0)  # bottom-centre (30, 90): in the zone
OUT_OF_ZONE = (150.0, 10.0, 170.0, 40.0)


def dets(*rows: tuple[tuple[float, float, float, float], float, int], tracked: bool = True) -> Detections:
    if not rows:
        return Detections.empty()
    return Detections(
        xyxy=np.array([r[0] for r in rows], np.float32),
        confidence=np.array([r[1] for r in rows], np.float32),
        class_id=np.array([r[2] for r in rows], np.int64),
        tracker_id=np.arange(1, len(rows) + 1) if tracked else None,
    )


def frame(s: float, index: int | None = None) -> Frame:
    return Frame("cam", int(s * 10) if index is None else index, IMAGE, T0 + dt.timedelta(seconds=s), s)


def settings(**changes: Any) -> LearningSettings:
    base: dict[str, Any] = {"enabled": True, "periodic_every_s": 0, "min_gap_s": 0}
    return LearningSettings.model_validate({**base, **changes})


def selector(**changes: Any) -> SampleSelector:
    return SampleSelector("cam", settings(**changes), tz=TZ, score_floor=0.15)


def site(min_score: float = 0.0, min_dwell_s: float = 5.0, **learning: Any) -> SiteConfig:
    return parse_site_config(
        {
            "site": {"id": "s", "name": "s", "timezone": "Asia/Shanghai"},
            "model": {"path": "m.onnx", "conf": 0.35},
            "cameras": [
                {
                    "id": "cam",
                    "name": "cam",
                    "source": "x.mp4",
                    "zones": [{"id": "z1", "kind": "road", "polygon": ZONE}],
                    "masks": [
                        {"classes": ["stall"], "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}
                    ],
                }
            ],
            "rules": [
                {
                    "violation": "street_vending",
                    "zone_kinds": ["road"],
                    "classes": ["stall"],
                    "min_score": min_score,
                    "min_dwell_s": min_dwell_s,
                    "grace_s": 1.0,
                    "cooldown_s": 0,
                }
            ],
            "device": {"id": "edge-01", "key_file": "edge.key"},
            "learning": {"enabled": True, **learning},
        }
    )


def engine(config: SiteConfig) -> RuleEngine:
    return RuleEngine(config.cameras[0], config.rules, NAMES, site_id="s", tz=TZ)


def step(
    sel: SampleSelector, rules: RuleEngine | None, f: Frame, d: Detections, below: Detections | None = None
) -> tuple[LearningSample | None, list[HitEvent]]:
    """One inferred sample through the rules and the selector, as the pipeline does it."""
    events = rules.update(d, f) if rules is not None else []
    misses = rules.below_min_score(d, f) if rules is not None else []
    below = Detections.empty() if below is None else below
    return sel.update(f, d, below, events, misses, inferred=True), events


# -- the reasons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counted", "below", "picked"),
    [
        ([], [(IN_ZONE, 0.2, 0)], (0,)),  # below model.conf, inside [0.15, 0.35)
        ([(OUT_OF_ZONE, 0.34, 1)], [], (0,)),  # counted by the rules yet inside the bounds
        (
            [(IN_ZONE, 0.9, 0)],
            [(OUT_OF_ZONE, 0.15, 1), (IN_ZONE, 0.3, 2)],
            (1, 2),
        ),  # indexes after the counted
        ([(IN_ZONE, 0.35, 0)], [], None),  # high bound is exclusive
        ([(IN_ZONE, 0.9, 0)], [], None),
        ([], [], None),
    ],
)
def test_low_confidence(counted: list[Any], below: list[Any], picked: tuple[int, ...] | None) -> None:
    sample, _ = step(selector(), None, frame(0), dets(*counted), dets(*below, tracked=False))
    if picked is None:
        assert sample is None
    else:
        assert sample is not None and sample.reason == "low_confidence"
        assert sample.picked == picked and sample.near_miss is None and sample.score_floor == 0.15


@pytest.mark.parametrize(
    ("box", "score", "cls", "near"),
    [
        (IN_ZONE, 0.5, 0, True),  # a stall in the zone, under the rule's 0.6
        (IN_ZONE, 0.7, 0, False),  # it counts: a hit opens, no near miss
        (OUT_OF_ZONE, 0.5, 0, False),  # not in the zone
        (IN_ZONE, 0.5, 1, False),  # not the rule's class
    ],
)
def test_near_miss_by_score(
    box: tuple[float, float, float, float], score: float, cls: int, near: bool
) -> None:
    config = site(min_score=0.6)
    sel = SampleSelector("cam", config.learning, tz=TZ, score_floor=0.15)
    sample, _ = step(sel, engine(config), frame(0), dets((box, score, cls)))
    if near:
        assert sample is not None and sample.reason == "near_miss" and sample.picked == (0,)
        assert sample.near_miss is not None
        assert (sample.near_miss.zone_id, sample.near_miss.violation, sample.near_miss.why) == (
            "z1",
            "street_vending",
            "score",
        )
    else:
        assert sample is None or sample.reason != "near_miss"


def test_near_miss_by_dwell_is_the_frame_the_hit_opened_on() -> None:
    config = site(min_dwell_s=5.0, periodic_every_s=0)
    sel = SampleSelector("cam", config.learning, tz=TZ, score_floor=0.35)
    rules = engine(config)
    stall = dets((IN_ZONE, 0.9, 0))
    got = []
    for i, s in enumerate(np.arange(0.0, 6.0, 0.5)):
        d = stall if s < 2.0 else Detections.empty()  # it leaves after 2 s, 3 s short of the dwell
        sample, events = step(sel, rules, frame(float(s), index=100 + i), d)
        got.append((float(s), [e.event for e in events], sample))
    events = [(s, e) for s, es, _ in got for e in es]
    assert events == [(0.0, "opened"), (2.5, "cleared")]  # last seen at 1.5 s, then empty for grace_s (1 s)
    samples = [(s, x) for s, _, x in got if x is not None]
    assert len(samples) == 1
    at, sample = samples[0]
    assert at == 2.5 and sample.reason == "near_miss"
    assert sample.frame.index == 100 and sample.frame.mono == 0.0, "the frame it opened on"
    assert sample.picked == (0,) and len(sample.detections) == 1
    assert sample.near_miss is not None and sample.near_miss.why == "dwell"
    assert not np.shares_memory(sample.frame.image, IMAGE), "its own copy (the pipeline reuses buffers)"


def test_a_hit_that_confirms_is_no_near_miss() -> None:
    config = site(min_dwell_s=1.0, periodic_every_s=0)
    sel = SampleSelector("cam", config.learning, tz=TZ, score_floor=0.35)
    rules = engine(config)
    kinds, samples = [], []
    for s in np.arange(0.0, 6.0, 0.5):
        d = dets((IN_ZONE, 0.9, 0)) if s < 2.0 else Detections.empty()
        sample, events = step(sel, rules, frame(float(s)), d)
        kinds += [e.event for e in events]
        samples += [sample] if sample is not None else []
    assert kinds[:2] == ["opened", "confirmed"] and kinds[-1] == "cleared"
    assert samples == [] and not sel.opened


def test_periodic_one_per_slot_negatives_included_within_hours() -> None:
    sel = selector(periodic_every_s=3600, periodic_hours={"from": "09:00", "to": "12:00"})
    taken = []
    # 10:00 to 13:30 local, every 10 minutes, nothing detected
    for minutes in range(0, 211, 10):
        sample, _ = step(sel, None, frame(minutes * 60.0), Detections.empty())
        if sample is not None:
            assert sample.reason == "periodic" and sample.picked == ()
            taken.append(minutes)
    assert taken == [0, 60], "one at 10:00 and one at 11:00; none from 12:00 (outside the hours)"


def test_not_inferred_frames_make_no_sample_but_a_dwell_near_miss() -> None:
    sel = selector(periodic_every_s=3600)
    f = frame(0)
    assert sel.update(f, dets((IN_ZONE, 0.2, 0)), Detections.empty(), [], [], inferred=False) is None
    assert sel.update(f, dets((IN_ZONE, 0.2, 0)), Detections.empty(), [], [], inferred=True) is not None


def test_near_miss_goes_before_low_confidence_before_periodic() -> None:
    config = site(min_score=0.6, periodic_every_s=3600)
    sel = SampleSelector("cam", config.learning, tz=TZ, score_floor=0.15)
    rules = engine(config)
    both = dets((IN_ZONE, 0.5, 0), (OUT_OF_ZONE, 0.2, 1))
    first, _ = step(sel, rules, frame(0), both)
    second, _ = step(sel, rules, frame(120), both)  # the same scene, min_gap_s (60) later
    assert first is not None and first.reason == "near_miss"
    assert second is not None and second.reason == "near_miss"
    sel.settings = sel.settings.model_copy(
        update={"budget": sel.settings.budget.model_copy(update={"near_miss": 2})}
    )
    third, _ = step(sel, rules, frame(240), both)
    assert third is not None and third.reason == "low_confidence", "near_miss budget spent"
    fourth, _ = step(sel, rules, frame(250), dets((OUT_OF_ZONE, 0.9, 1)))
    assert fourth is not None and fourth.reason == "periodic", "the hour's periodic slot is still free"


# -- the budget ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({"budget": {"low_confidence": 3}}, ["low_confidence"] * 3),
        ({"daily_budget": 2}, ["low_confidence"] * 2),
        ({"daily_budget": 0}, []),
        ({"budget": {"low_confidence": 0}}, []),
    ],
)
def test_budget_per_reason_and_in_all(changes: dict[str, Any], reasons: list[str]) -> None:
    sel = selector(**changes)
    got = []
    for i in range(10):
        sample, _ = step(sel, None, frame(i * 100.0), dets((IN_ZONE, 0.2, 0)))
        if sample is not None:
            got.append(sample.reason)
    assert got == reasons
    assert sel.budget_left == sel.settings.daily_budget - len(reasons)


def test_least_gap_between_two_samples_of_a_reason() -> None:
    sel = selector(min_gap_s=60)
    times = [0, 10, 59.9, 60, 100, 121]
    taken = [s for s in times if step(sel, None, frame(float(s)), dets((IN_ZONE, 0.2, 0)))[0] is not None]
    assert taken == [0, 60, 121]


def test_budget_resets_at_local_midnight() -> None:
    sel = selector(daily_budget=2)
    # 23:58, 23:59 and 23:59:30 local (Asia/Shanghai, UTC+8), then 00:00:10 the next day
    before = dt.datetime(2026, 11, 26, 23, 58, tzinfo=TZ)
    times = [before + dt.timedelta(seconds=s) for s in (0, 60, 90, 130, 140, 150)]
    got = []
    for i, t in enumerate(times):
        f = Frame("cam", i, IMAGE, t.astimezone(dt.UTC), float(i))
        sample = sel.update(f, dets((IN_ZONE, 0.2, 0)), Detections.empty(), [], [], inferred=True)
        got.append((t.strftime("%H:%M:%S"), sample is not None, sel.budget_left))
    assert got == [
        ("23:58:00", True, 1),
        ("23:59:00", True, 0),
        ("23:59:30", False, 0),  # the day's two are spent
        ("00:00:10", True, 1),  # a new local day (16:00 UTC): the budget starts again
        ("00:00:20", True, 0),
        ("00:00:30", False, 0),
    ]
    assert sel.day == dt.date(2026, 11, 27)


# -- split and masks --------------------------------------------------------------------------------


def test_split_below_keeps_what_the_rules_would_have_seen() -> None:
    d = dets((IN_ZONE, 0.9, 0), (IN_ZONE, 0.35, 1), (OUT_OF_ZONE, 0.2, 2), tracked=False)
    counted, below = split_below(d, 0.35)
    assert counted.confidence.tolist() == pytest.approx([0.9])  # the model's own rule: score > conf
    assert below.confidence.tolist() == pytest.approx([0.35, 0.2])
    assert split_below(Detections.empty(), 0.35)[1].confidence.size == 0


@pytest.mark.parametrize(
    ("rows", "kept", "masked"),
    [
        ([((150, 10, 170, 40), 0.9, 0)], [], {"stall": 1}),  # a stall standing in the right half
        ([((150, 10, 170, 40), 0.9, 1)], [1], {}),  # a banner there: not a masked class
        ([((20, 60, 40, 90), 0.9, 0)], [0], {}),  # a stall on the left: outside the mask
        ([((90, 10, 110, 40), 0.9, 0)], [], {"stall": 1}),  # its anchor (100, 40) on the edge: inside
        ([((60, 10, 130, 40), 0.9, 0)], [0], {}),  # overlapping the mask, anchor (95, 40) outside
        (
            [((150, 10, 170, 40), 0.9, 0), ((20, 60, 40, 90), 0.8, 0), ((160, 50, 190, 99), 0.7, 0)],
            [0],
            {"stall": 2},
        ),
        ([], [], {}),
    ],
)
def test_masks_drop_their_classes_inside_only(
    rows: list[Any], kept: list[int], masked: dict[str, int]
) -> None:
    masks = DetectionMasks("cam", site().cameras[0].masks, NAMES)
    out, counts = masks.apply(dets(*rows), (H, W))
    assert out.class_id.tolist() == kept
    assert dict(counts) == masked


def test_masks_are_made_once_per_frame_size() -> None:
    masks = DetectionMasks("cam", site().cameras[0].masks, NAMES)
    masks.apply(dets(((150, 10, 170, 40), 0.9, 0)), (H, W))
    first = masks.zone(0, (H, W))
    assert masks.zone(0, (H, W)) is first
    assert masks.zone(0, (2 * H, 2 * W)).resolution_wh == (2 * W, 2 * H)
