"""Zone rules on detections directly: tables of timelines and the events they must give."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from detector.config import parse_site_config
from detector.detections import Detections
from detector.events import Frame
from detector.rules import RuleEngine
from detector.tracker import IouTracker
from detector.zones import anchors_in_polygon

NAMES = {0: "stall", 1: "goods", 2: "banner", 3: "person"}
CLASS = {v: k for k, v in NAMES.items()}
IMAGE = np.zeros((100, 100, 3), dtype=np.uint8)  # 100 x 100 px: polygon 0.2..0.6 is pixels 20..60
TZ = ZoneInfo("Asia/Shanghai")
FRIDAY_NOON = dt.datetime(2026, 11, 27, 12, 0, tzinfo=TZ)  # a Friday

Box = tuple[float, float, float, float, str, float]  # x1, y1, x2, y2, class, score
IN = (30.0, 30.0, 50.0, 55.0, "stall", 0.9)  # bottom-centre (40, 55): inside
IN2 = (22.0, 25.0, 35.0, 50.0, "goods", 0.8)  # another object inside
STRADDLE_IN = (5.0, 30.0, 45.0, 58.0, "stall", 0.9)  # crosses the left edge; bottom-centre (25, 58) inside
STRADDLE_OUT = (40.0, 30.0, 95.0, 58.0, "stall", 0.9)  # mostly inside; bottom-centre (67.5, 58) outside
FEET_OUT = (30.0, 40.0, 50.0, 70.0, "stall", 0.9)  # overlaps the zone; bottom-centre (40, 70) below it
LOW_SCORE = (30.0, 30.0, 50.0, 55.0, "stall", 0.2)
TINY = (38.0, 50.0, 42.0, 55.0, "stall", 0.9)  # 20 px²
PERSON = (30.0, 30.0, 50.0, 55.0, "person", 0.9)


def site(rule: dict[str, Any] | None = None, exemptions: list[Any] | None = None) -> Any:
    base_rule: dict[str, Any] = {
        "violation": "out_of_shop_trading",
        "zone_kinds": ["shop_frontage"],
        "classes": ["stall", "goods"],
        "min_dwell_s": 3,
        "grace_s": 2,
        "cooldown_s": 0,
        "update_interval_s": 4,
    }
    base_rule.update(rule or {})
    return parse_site_config(
        {
            "site": {"id": "s", "name": "s", "timezone": "Asia/Shanghai"},
            "model": {"path": "m.onnx"},
            "shops": [{"id": "S-1", "name": "shop", "code": "1"}],
            "cameras": [
                {
                    "id": "cam",
                    "name": "cam",
                    "source": "x.mp4",
                    "zones": [
                        {
                            "id": "z1",
                            "kind": "shop_frontage",
                            "shop_id": "S-1",
                            "polygon": [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]],
                            "exemptions": exemptions or [],
                        },
                        {"id": "z-road", "kind": "road", "polygon": [[0, 0.8], [1, 0.8], [1, 1]]},
                    ],
                }
            ],
            "rules": [base_rule],
        }
    )


@dataclass
class Case:
    id: str
    spans: list[tuple[float, float, list[Box]]]  # [t0, t1): these boxes; else nothing
    expected: list[tuple[str, float]]  # (event, t)
    end: float = 16.0
    rule: dict[str, Any] = field(default_factory=dict)
    exemptions: list[Any] = field(default_factory=list)
    start: dt.datetime = FRIDAY_NOON
    hits: int | None = None  # distinct hit ids


def run(case: Case, step: float = 1.0) -> list[tuple[str, float, str]]:
    config = site(case.rule, case.exemptions)
    engine = RuleEngine(config.cameras[0], config.rules, NAMES, site_id=config.site.id, tz=config.site.tz)
    tracker = IouTracker()
    out: list[tuple[str, float, str]] = []
    for i in range(round(case.end / step) + 1):
        t = i * step
        boxes = [b for t0, t1, bs in case.spans if t0 <= t < t1 for b in bs]
        dets = Detections(
            xyxy=np.array([b[:4] for b in boxes], dtype=np.float32).reshape(-1, 4),
            confidence=np.array([b[5] for b in boxes], dtype=np.float32),
            class_id=np.array([CLASS[b[4]] for b in boxes], dtype=np.int64),
        )
        utc = (case.start + dt.timedelta(seconds=t)).astimezone(dt.UTC)
        frame = Frame("cam", i, IMAGE, utc, 1000.0 + t)
        for ev in engine.update(tracker.update(dets, frame.mono), frame):
            out.append((ev.event, t, ev.hit_id))
    return out


CASES = [
    Case(
        "dwell, still_present, cleared after grace",
        spans=[(0, 11, [IN])],
        expected=[("opened", 0), ("confirmed", 3), ("still_present", 7), ("cleared", 12)],
    ),
    Case(
        "occlusion gap shorter than grace keeps the dwell",
        spans=[(0, 3, [IN]), (4, 9, [IN])],  # hidden at t=3 only
        expected=[("opened", 0), ("confirmed", 4), ("still_present", 8), ("cleared", 10)],
        hits=1,
    ),
    Case(
        "gap as long as grace clears; a new hit opens later",
        spans=[(0, 2, [IN]), (6, 12, [IN])],
        expected=[("opened", 0), ("cleared", 3), ("opened", 6), ("confirmed", 9), ("cleared", 13)],
        hits=2,
    ),
    Case(
        "cooldown: a sighting soon after clearing resumes the same hit",
        rule={"cooldown_s": 30},
        spans=[(0, 5, [IN]), (9, 11, [IN])],
        expected=[("opened", 0), ("confirmed", 3), ("cleared", 6), ("still_present", 9), ("cleared", 12)],
        hits=1,
    ),
    Case(
        "after the cooldown a new hit opens",
        rule={"cooldown_s": 5, "min_dwell_s": 1},
        spans=[(0, 3, [IN]), (9, 11, [IN])],
        expected=[
            ("opened", 0),
            ("confirmed", 1),
            ("cleared", 4),
            ("opened", 9),
            ("confirmed", 10),
            ("cleared", 12),
        ],
        hits=2,
    ),
    Case(
        "two objects in one zone make one hit",
        spans=[(0, 5, [IN, IN2]), (5, 8, [IN2])],  # the first leaves; the hit follows the other
        expected=[("opened", 0), ("confirmed", 3), ("still_present", 7), ("cleared", 9)],
        hits=1,
    ),
    Case(
        "a box straddling the zone edge, feet inside",
        spans=[(0, 4, [STRADDLE_IN])],
        end=8,
        expected=[("opened", 0), ("confirmed", 3), ("cleared", 5)],
    ),
    Case("a box straddling the zone edge, feet outside", spans=[(0, 4, [STRADDLE_OUT])], end=8, expected=[]),
    Case("a box over the zone with its feet below it", spans=[(0, 4, [FEET_OUT])], end=8, expected=[]),
    Case("a class the rule does not name", spans=[(0, 6, [PERSON])], end=8, expected=[]),
    Case("min_score", rule={"min_score": 0.5}, spans=[(0, 6, [LOW_SCORE])], end=8, expected=[]),
    Case("min_area_px", rule={"min_area_px": 100}, spans=[(0, 6, [TINY])], end=8, expected=[]),
    Case(
        "min_dwell 0 confirms at once",
        rule={"min_dwell_s": 0},
        spans=[(0, 1, [IN])],
        end=4,
        expected=[("opened", 0), ("confirmed", 0), ("cleared", 2)],
    ),
    Case(
        "active hours across midnight: a hit opened at 23:58 goes on after 00:00",
        rule={
            "active_hours": {"from": "22:00", "to": "06:00"},
            "min_dwell_s": 120,
            "grace_s": 30,
            "update_interval_s": 180,
        },
        start=dt.datetime(2026, 11, 27, 23, 58, tzinfo=TZ),
        spans=[(0, 600, [IN])],
        end=600,
        expected=[
            ("opened", 0),
            ("confirmed", 120),
            ("still_present", 300),
            ("still_present", 480),
            ("cleared", 600),
        ],
    ),
    Case(
        "active hours: outside the window nothing happens",
        rule={"active_hours": {"from": "22:00", "to": "06:00"}},
        spans=[(0, 10, [IN])],
        expected=[],
    ),
    Case(
        "active hours end while a hit is open: it clears after grace",
        rule={"active_hours": {"from": "07:00", "to": "12:00"}, "min_dwell_s": 1},
        start=dt.datetime(2026, 11, 27, 11, 59, 55, tzinfo=TZ),
        spans=[(0, 16, [IN])],
        expected=[("opened", 0), ("confirmed", 1), ("cleared", 6)],  # suppressed from t=5
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_timeline(case: Case) -> None:
    step = 60.0 if case.end >= 600 else 1.0
    got = run(case, step=step)
    assert [(e, t) for e, t, _ in got] == case.expected
    if case.hits is not None:
        assert len({h for _, _, h in got}) == case.hits


SAT, FRI, SUN = dt.date(2026, 11, 28), dt.date(2026, 11, 27), dt.date(2026, 11, 29)


@pytest.mark.parametrize(
    ("exemptions", "day", "hhmm", "exempt"),
    [
        ([{"days": ["sat", "sun"], "from": "18:00", "to": "22:00"}], SAT, "19:00", True),
        ([{"days": ["sat", "sun"], "from": "18:00", "to": "22:00"}], SUN, "21:59", True),
        ([{"days": ["sat", "sun"], "from": "18:00", "to": "22:00"}], FRI, "19:00", False),
        ([{"days": ["sat", "sun"], "from": "18:00", "to": "22:00"}], SAT, "22:00", False),
        ([{"days": ["sat", "sun"], "from": "18:00", "to": "22:00"}], SAT, "17:59", False),
        ([{"days": ["fri"], "from": "22:00", "to": "02:00"}], SAT, "01:00", True),  # Friday night
        ([{"days": ["fri"], "from": "22:00", "to": "02:00"}], FRI, "01:00", False),  # Thursday night
        ([{"days": ["fri"], "from": "22:00", "to": "02:00"}], FRI, "23:30", True),
        ([{"from": "06:00", "to": "09:00"}, {"days": ["mon"], "from": "12:00", "to": "13:00"}], SUN, "07:00", True),
        ([{"from": "06:00", "to": "09:00"}, {"days": ["mon"], "from": "12:00", "to": "13:00"}], SUN, "12:30", False),
    ],
)  # fmt: skip
def test_exemptions_by_weekday_and_time(exemptions: list[Any], day: dt.date, hhmm: str, exempt: bool) -> None:
    h, m = map(int, hhmm.split(":"))
    start = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=TZ)
    case = Case("x", [(0, 6, [IN])], [], end=2, exemptions=exemptions, start=start, rule={"min_dwell_s": 1})
    got = [e for e, _, _ in run(case)]
    assert got == ([] if exempt else ["opened", "confirmed"])


def test_exemption_uses_the_site_time_zone() -> None:
    # 10:30 UTC on a Saturday is 18:30 in Shanghai: inside a sat 18:00-22:00 exemption
    start = dt.datetime(2026, 11, 28, 10, 30, tzinfo=dt.UTC)
    ex = [{"days": ["sat"], "from": "18:00", "to": "22:00"}]
    assert run(Case("x", [(0, 6, [IN])], [], end=2, exemptions=ex, start=start)) == []


def test_event_fields() -> None:
    config = site({"min_dwell_s": 0})
    engine = RuleEngine(config.cameras[0], config.rules, NAMES, site_id=config.site.id, tz=config.site.tz)
    utc = dt.datetime(2026, 11, 27, 4, 0, 0, 123000, tzinfo=dt.UTC)
    dets = Detections(
        xyxy=np.array([IN[:4]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([0]),
        tracker_id=np.array([7]),
    )
    opened, confirmed = engine.update(dets, Frame("cam", 0, IMAGE, utc, 5.0))
    line = opened.model_dump(mode="json")
    assert line["event"] == "opened" and confirmed.event == "confirmed"
    assert line["camera_id"] == "cam" and line["zone_id"] == "z1" and line["shop_id"] == "S-1"
    assert line["violation"] == "out_of_shop_trading" and line["site_id"] == "s"
    assert line["track_id"] == 7 and line["label"] == "stall" and line["score"] == pytest.approx(0.9)
    assert line["box"] == [30.0, 30.0, 50.0, 55.0]
    assert line["ts"] == line["first_seen"] == "2026-11-27T04:00:00.123Z"
    assert opened.hit_id == confirmed.hit_id and "cam-z1-out_of_shop_trading" in opened.hit_id
    assert engine.flush()[0].event == "still_present"


def test_anchor_on_the_edge_counts_as_inside() -> None:
    poly = np.array([[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]], np.float32)
    pts = np.array([[40, 60], [40, 60.5], [20, 40], [19.9, 40]], np.float32)
    assert anchors_in_polygon(pts, poly, (100, 100)).tolist() == [True, False, True, False]
