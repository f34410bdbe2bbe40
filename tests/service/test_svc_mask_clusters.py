"""Learned masks, the computation (service.masks): which false-detection dismissals make a proposal,
and the proposed polygon holds every dismissed bottom-centre with its margin. Table-driven; no
database."""

from __future__ import annotations

import datetime as dt

import pytest

from service.masks import Dismissal, MaskRules, inside, mask_polygon, normalised_box, proposals
from service.settings import Settings, SettingsError

T = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
RULES = MaskRules()  # 3 cases, 14 days, radius 0.05, margin 0.02


def d(case: int, x: float, y: float, *, cam: str = "cam-1", cls: str = "ad_board", w: float = 0.1,
      h: float = 0.2, days: float = 0) -> Dismissal:  # fmt: skip
    """A dismissal whose box stands (bottom-centre) at x, y."""
    return Dismissal(case, cam, cls, (x - w / 2, y - h, x + w / 2, y), T + dt.timedelta(days=days))


def shape(items: list[Dismissal], min_dismissals: int = 3) -> list[tuple[str, str, list[int]]]:
    found = proposals(items, radius=RULES.radius, min_dismissals=min_dismissals)
    return [(c.camera_id, c.label, c.case_ids) for c in found]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([d(1, 0.5, 0.5), d(2, 0.51, 0.5)], [], id="below the count"),
        pytest.param([d(1, 0.5, 0.5), d(2, 0.51, 0.5), d(3, 0.5, 0.52)], [("cam-1", "ad_board", [1, 2, 3])],
                     id="three cases at one place"),
        pytest.param([d(1, 0.5, 0.5), d(1, 0.51, 0.5), d(2, 0.5, 0.52)], [], id="three boxes, two cases"),
        pytest.param([d(1, 0.5, 0.5), d(2, 0.51, 0.5), d(3, 0.5, 0.52, cam="cam-2")], [], id="two cameras"),
        pytest.param([d(1, 0.5, 0.5), d(2, 0.51, 0.5), d(3, 0.5, 0.52, cls="banner")], [], id="two classes"),
        pytest.param([d(1, 0.2, 0.5), d(2, 0.5, 0.5), d(3, 0.8, 0.5)], [], id="three places"),
        pytest.param([d(1, 0.5, 0.5, h=0.1), d(2, 0.5, 0.5, h=0.4, w=0.3), d(3, 0.52, 0.51, w=0.02)],
                     [("cam-1", "ad_board", [1, 2, 3])], id="box sizes differ, the feet agree"),
        pytest.param([d(1, 0.5, 0.3), d(2, 0.5, 0.5), d(3, 0.5, 0.7)], [],
                     id="same box top, feet apart: not one place"),
        pytest.param([d(i, 0.5 + 0.04 * i, 0.5) for i in range(4)], [("cam-1", "ad_board", [0, 1, 2, 3])],
                     id="single linkage: a chain of near feet"),
        pytest.param([*(d(i, 0.2, 0.9) for i in (1, 2, 3)), *(d(i, 0.7, 0.3, cam="cam-2") for i in (4, 5, 6)),
                      *(d(i, 0.2, 0.9, cls="poster") for i in (7, 8))],
                     [("cam-1", "ad_board", [1, 2, 3]), ("cam-2", "ad_board", [4, 5, 6])],
                     id="two cameras each with a place, a class short of the count"),
        pytest.param([d(1, 0.2, 0.9), d(2, 0.2, 0.9), d(3, 0.2, 0.9), d(4, 0.8, 0.9), d(5, 0.8, 0.9), d(6, 0.8, 0.9)],
                     [("cam-1", "ad_board", [1, 2, 3]), ("cam-1", "ad_board", [4, 5, 6])],
                     id="one camera, two places: two proposals"),
    ],
)  # fmt: skip
def test_which_dismissals_make_a_proposal(items: list[Dismissal], expected: list[tuple[str, str, list[int]]]):
    assert shape(items) == expected
    assert shape(list(reversed(items))) == expected  # order-independent


def test_the_count_is_configurable():
    two = [d(1, 0.5, 0.5), d(2, 0.51, 0.5)]
    assert shape(two, min_dismissals=2) == [("cam-1", "ad_board", [1, 2])]


@pytest.mark.parametrize(
    "feet",
    [
        [(0.5, 0.5), (0.51, 0.5), (0.5, 0.52)],
        [(0.0, 1.0), (0.01, 0.99), (0.02, 1.0)],  # in a corner: clipped to the frame
        [(0.99, 0.02), (1.0, 0.03), (0.98, 0.04)],
        [(0.33333, 0.66667), (0.3, 0.7), (0.31, 0.69)],  # rounding never cuts a foot off
    ],
)
def test_every_dismissed_foot_is_inside_the_polygon_with_its_margin(feet: list[tuple[float, float]]):
    items = [d(i, x, y) for i, (x, y) in enumerate(feet)]
    (cluster,) = proposals(items, radius=RULES.radius, min_dismissals=3)
    polygon = cluster.polygon(RULES.margin)
    assert len(polygon) == 4 and all(0 <= v <= 1 for p in polygon for v in p)
    assert all(round(v, 4) == v for p in polygon for v in p)
    for x, y in feet:
        for dx, dy in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
            px = min(max(x + dx * RULES.margin * 0.99, 0.0), 1.0)
            py = min(max(y + dy * RULES.margin * 0.99, 0.0), 1.0)
            assert inside(polygon, (px, py)), (px, py, polygon)


def test_the_polygon_covers_the_bottom_parts_not_the_whole_boxes():
    polygon = mask_polygon([(0.4, 0.2, 0.6, 0.6)], 0.02)  # w 0.2, h 0.4
    assert polygon == [
        (0.43, 0.48),
        (0.57, 0.48),
        (0.57, 0.62),
        (0.43, 0.62),
    ]  # middle half across, lowest quarter up
    assert not inside(polygon, (0.5, 0.3))  # the box's upper part is not masked
    assert inside(polygon, (0.5, 0.6))


@pytest.mark.parametrize(
    ("point", "expected"),
    [((0.5, 0.5), True), ((0.2, 0.2), True), ((0.8, 0.5), True), ((0.81, 0.5), False), ((0.5, 0.1), False)],
)
def test_inside_counts_the_edge(point: tuple[float, float], expected: bool):
    square = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]
    assert inside(square, point) is expected


@pytest.mark.parametrize(
    ("box", "size", "expected"),
    [
        ([64, 36, 128, 72], (640, 360), (0.1, 0.1, 0.2, 0.2)),
        ([-10, 0, 700, 360], (640, 360), (0.0, 0.0, 1.0, 1.0)),
        ([10, 10, 10, 20], (640, 360), None),
        ([float("nan"), 0, 1, 1], (640, 360), None),
        ([0, 0, 1, 1], (0, 360), None),
        ([0, 0, 1], (640, 360), None),
    ],
)
def test_normalised_boxes(box: list[float], size: tuple[int, int], expected: object):
    assert normalised_box(box, *size) == expected


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("NCE_MASK_PROPOSAL_MIN_DISMISSALS", "1", "mask_proposal_min_dismissals"),
        ("NCE_MASK_PROPOSAL_DAYS", "0", "mask_proposal_days"),
        ("NCE_MASK_PROPOSAL_RADIUS", "nan", "mask_proposal_radius"),
        ("NCE_MASK_PROPOSAL_RADIUS", "0.9", "mask_proposal_radius"),
        ("NCE_MASK_PROPOSAL_MARGIN", "0", "mask_proposal_margin"),
        ("NCE_MASK_PROPOSAL_DAYS", "two weeks", "mask_proposal_days"),
    ],
)
def test_bad_settings_name_the_field(monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str):
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=message):
        Settings.load(demo=True)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NCE_MASK_PROPOSAL_MIN_DISMISSALS", "5")
    monkeypatch.setenv("NCE_MASK_PROPOSAL_DAYS", "30")
    monkeypatch.setenv("NCE_MASK_PROPOSAL_RADIUS", "0.08")
    rules = MaskRules.of(Settings.load(demo=True))
    assert rules == MaskRules(min_dismissals=5, days=30, radius=0.08, margin=0.02)
