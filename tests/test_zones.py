"""Zone masks: the mask's answer is cv2.pointPolygonTest's, border, corner and outside points included."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from detector.config import SiteConfig, parse_site_config
from detector.detections import Detections
from detector.events import Frame
from detector.rules import RuleEngine
from detector.zones import PolygonZone, anchors_in_polygon, scaled_contour

POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": [(0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)],
    "whole frame": [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
    "road triangle": [(0.0, 0.8), (1.0, 0.8), (1.0, 1.0)],
    "frontage": [(0.10, 0.55), (0.45, 0.55), (0.45, 0.95), (0.10, 0.95)],
    "concave": [(0.333, 0.1), (0.9, 0.47), (0.5, 0.5), (0.7, 0.9), (0.05, 0.77)],
    "thin spike": [(0.5, 0.0), (0.5003, 1.0), (0.4999, 0.5)],
    "odd fractions": [(0.137, 0.291), (0.871, 0.113), (0.777, 0.919), (0.301, 0.703)],
}
RESOLUTIONS_WH = [(100, 100), (768, 576), (1920, 1080), (37, 23)]


def reference(contour: npt.NDArray[np.float32], points: npt.NDArray[np.float32]) -> list[bool]:
    """Today's rule, point by point: inside or on the edge."""
    return [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points]


def probe_points(contour: npt.NDArray[np.float32], w: int, h: int) -> npt.NDArray[np.float32]:
    """Corners, points on every edge, just either side of it, half pixels, and points off the frame."""
    rng = np.random.default_rng(7)
    corners = contour.reshape(-1, 2).astype(np.float64)
    parts = [corners, corners + 0.5, corners - 0.5, np.round(corners), np.floor(corners) + 1]
    for p0, p1 in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        t = np.concatenate([[0.5, 0.25, 1 / 3], rng.random(40)])[:, None]
        on_edge = p0 + t * (p1 - p0)
        normal = np.array([p0[1] - p1[1], p1[0] - p0[0]]) / max(float(np.hypot(*(p1 - p0))), 1e-9)
        parts += [on_edge, np.round(on_edge), np.floor(on_edge), np.ceil(on_edge)]
        parts += [on_edge + d * normal for d in (1e-3, -1e-3, 0.3, -0.3, 1.0, -1.0)]
    grid_x, grid_y = np.meshgrid(
        np.arange(-1.0, w + 2, max(1, w // 41)), np.arange(-1.0, h + 2, max(1, h // 37))
    )
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    parts += [grid, grid + 0.5, grid + 0.999, rng.uniform(-3, [w + 3, h + 3], size=(500, 2))]
    edges_of_frame = [
        (0, 0),
        (w, 0),
        (w, h),
        (0, h),
        (w, h / 2),
        (w + 0.5, h / 2),
        (w / 2, h + 1e-3),
        (-1e-3, 5),
    ]
    parts.append(np.array(edges_of_frame, dtype=np.float64))
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("resolution_wh", RESOLUTIONS_WH, ids=lambda r: f"{r[0]}x{r[1]}")
@pytest.mark.parametrize("name", list(POLYGONS))
def test_mask_answers_as_point_polygon_test(name: str, resolution_wh: tuple[int, int]) -> None:
    polygon = POLYGONS[name]
    zone = PolygonZone(polygon, resolution_wh)
    points = probe_points(zone.contour, *resolution_wh)
    expected = reference(scaled_contour(polygon, resolution_wh), points)
    got = zone.contains(points).tolist()
    wrong = [(tuple(p), e) for p, g, e in zip(points.tolist(), got, expected, strict=True) if g != e]
    assert not wrong, f"{len(wrong)} of {len(points)} points differ, e.g. {wrong[:5]}"
    assert sum(expected) and not all(expected), "the probe points must fall on both sides"


# (polygon, resolution, point, inside): the edge semantics written out
EDGE_TABLE: list[tuple[str, tuple[int, int], tuple[float, float], bool]] = [
    ("square", (100, 100), (20.0, 20.0), True),  # a corner
    ("square", (100, 100), (60.0, 60.0), True),  # the opposite corner
    ("square", (100, 100), (40.0, 20.0), True),  # on the top edge
    ("square", (100, 100), (40.0, 60.0), True),  # on the bottom edge
    ("square", (100, 100), (40.0, 60.5), False),  # half a pixel below it
    ("square", (100, 100), (19.9, 40.0), False),  # just left of the left edge
    ("square", (100, 100), (20.0, 40.0), True),
    ("square", (100, 100), (59.999, 59.999), True),
    ("square", (100, 100), (60.001, 40.0), False),
    ("square", (100, 100), (-1.0, 40.0), False),  # off the frame
    ("whole frame", (100, 100), (100.0, 100.0), True),  # the frame's far corner is on the edge
    ("whole frame", (100, 100), (100.0, 50.0), True),
    ("whole frame", (100, 100), (100.5, 50.0), False),
    ("whole frame", (100, 100), (0.0, 0.0), True),
    ("whole frame", (100, 100), (-0.001, 0.0), False),
    ("road triangle", (768, 576), (768.0, 576.0), True),
    ("road triangle", (100, 100), (50.0, 90.0), True),  # on the hypotenuse
    ("road triangle", (100, 100), (50.0, 90.01), False),  # just below it
    ("road triangle", (100, 100), (0.0, 80.0), True),  # the sharp corner
    ("road triangle", (100, 100), (0.01, 80.01), False),  # beside it, below the sliver
    ("frontage", (1920, 1080), (192.0, 594.0), True),
    ("frontage", (1920, 1080), (864.0, 1026.0), True),
    ("frontage", (1920, 1080), (864.5, 1000.0), False),
]


@pytest.mark.parametrize(("name", "resolution_wh", "point", "inside"), EDGE_TABLE)
def test_edge_table(
    name: str, resolution_wh: tuple[int, int], point: tuple[float, float], inside: bool
) -> None:
    polygon = POLYGONS[name]
    pts = np.array([point], dtype=np.float32)
    assert reference(scaled_contour(polygon, resolution_wh), pts) == [inside], (
        "the table must match today's rule"
    )
    assert PolygonZone(polygon, resolution_wh).contains(pts).tolist() == [inside]
    w, h = resolution_wh
    assert anchors_in_polygon(pts, np.array(polygon, np.float32), (h, w)).tolist() == [inside]


def test_trigger_uses_the_bottom_centre_of_every_box() -> None:
    zone = PolygonZone(POLYGONS["square"], (100, 100))
    boxes = [
        (30, 30, 50, 55),  # feet (40, 55): inside
        (30, 40, 50, 70),  # feet (40, 70): below the zone although the box overlaps it
        (5, 30, 35, 60),  # feet (20, 60): the corner
        (60, 0, 80, 20),  # feet (70, 20): right of it
        (0, 0, 100, 100),  # feet (50, 100): off the bottom
    ]
    dets = Detections(
        xyxy=np.array(boxes, np.float32),
        confidence=np.ones(len(boxes), np.float32),
        class_id=np.zeros(len(boxes)),
    )
    assert zone.trigger(dets).tolist() == [True, False, True, False, False]
    assert zone.trigger(Detections.empty()).tolist() == []


def test_non_finite_points_get_todays_answer() -> None:
    zone = PolygonZone(POLYGONS["whole frame"], (100, 100))
    pts = np.array([[np.nan, 5.0], [np.inf, 5.0], [5.0, -np.inf]], np.float32)
    assert zone.contains(pts).tolist() == reference(zone.contour, pts)


def test_most_of_the_frame_is_answered_by_the_mask() -> None:
    zone = PolygonZone(POLYGONS["frontage"], (1920, 1080))
    assert zone.is_border.mean() < 0.01
    assert zone.is_inside[800, 500] and not zone.is_inside[100, 100]


@pytest.mark.parametrize("resolution_wh", [(0, 100), (100, -1)])
def test_bad_resolution(resolution_wh: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="resolution_wh must be positive"):
        PolygonZone(POLYGONS["square"], resolution_wh)


def one_zone_site() -> SiteConfig:
    return parse_site_config(
        {
            "site": {"id": "s", "name": "s"},
            "model": {"path": "m.onnx"},
            "cameras": [
                {
                    "id": "cam",
                    "name": "cam",
                    "source": "x.mp4",
                    "zones": [{"id": "z1", "kind": "road", "polygon": POLYGONS["square"]}],
                }
            ],
            "rules": [{"violation": "street_vending", "zone_kinds": ["road"], "classes": ["stall"]}],
        }
    )


def test_rule_engine_makes_each_mask_once_per_frame_size() -> None:
    config = one_zone_site()
    engine = RuleEngine(
        config.cameras[0], config.rules, {0: "stall"}, site_id=config.site.id, tz=config.site.tz
    )
    utc = dt.datetime(2026, 11, 27, 4, 0, tzinfo=dt.UTC)
    stall = Detections(
        xyxy=np.array([[30, 30, 50, 55]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.zeros(1),
    )
    assert engine.masks == {}, "no mask before the first frame"
    opened = engine.update(stall, Frame("cam", 0, np.zeros((100, 100, 3), np.uint8), utc, 0.0))
    assert [e.event for e in opened] == ["opened"]
    first = engine.masks["z1"]
    assert first.resolution_wh == (100, 100)
    engine.update(stall, Frame("cam", 1, np.zeros((100, 100, 3), np.uint8), utc, 1.0))
    assert engine.masks["z1"] is first, "made once for this size"
    engine.update(stall, Frame("cam", 2, np.zeros((480, 640, 3), np.uint8), utc, 2.0))
    assert engine.masks["z1"] is not first and engine.masks["z1"].resolution_wh == (640, 480)
