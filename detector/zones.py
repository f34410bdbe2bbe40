"""Zone polygons on frames: which detections stand inside a zone, answered for all of them at once.

An object is in a zone when the bottom-centre of its box (where it stands) is inside the zone's
polygon, whose 0..1 points are scaled to the frame; a point on the edge counts as inside. The answer
is exactly ``cv2.pointPolygonTest(contour, anchor, False) >= 0`` on the scaled float32 contour
(:func:`anchors_in_polygon`, one call per point), but :class:`PolygonZone` gets it for most anchors
from a mask made once per frame resolution:

- the plane is cut into one-pixel cells ``[x, x+1) × [y, y+1)``, ``0 <= x <= w``, ``0 <= y <= h``;
- *border* cells are those within two cells of a point sampled every half pixel along the polygon's
  edges: every cell an edge touches is one, and every other cell lies at least 1.5 px from all edges;
- a cell that is not a border cell is wholly inside or wholly outside, so its centre (filled by
  ``cv2.fillPoly``, far from any edge) answers for every point in it;
- anchors in border cells (and non-finite ones) get the exact per-point test; anchors beyond the
  cells lie outside the frame and so outside every zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from detector.detections import Detections

BoolArray = npt.NDArray[np.bool_]

_STEP = 0.5  # px between points sampled along an edge
_REACH = 2  # cells around each sampled point that are border cells
_SHIFT = 8  # fractional bits of the points cv2.fillPoly draws


def scaled_contour(polygon01: npt.ArrayLike, resolution_wh: tuple[int, int]) -> npt.NDArray[np.float32]:
    """A 0..1 polygon as an OpenCV ``(n, 1, 2)`` float32 contour in pixels of a ``w x h`` frame."""
    w, h = resolution_wh
    poly = np.asarray(polygon01, dtype=np.float32).reshape(-1, 2)
    contour: npt.NDArray[np.float32] = (poly * np.array([w, h], dtype=np.float32)).reshape(-1, 1, 2)
    return contour


def anchors_in_polygon(
    anchors: npt.NDArray[np.float32], polygon01: npt.NDArray[np.float32], frame_hw: tuple[int, int]
) -> BoolArray:
    """Which ``(n, 2)`` pixel points lie inside (or on the edge of) a 0..1 polygon on a frame.

    The reference answer, one ``cv2.pointPolygonTest`` per point; :class:`PolygonZone` gives the same.
    """
    h, w = frame_hw
    return _exact(scaled_contour(polygon01, (w, h)), anchors)


def _exact(contour: npt.NDArray[np.float32], points: npt.NDArray[np.floating]) -> BoolArray:
    return np.array(
        [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points], dtype=bool
    )


class PolygonZone:
    """One zone polygon on frames of one resolution: ``trigger(detections) -> bool array``."""

    def __init__(self, polygon01: Sequence[tuple[float, float]], resolution_wh: tuple[int, int]) -> None:
        w, h = resolution_wh
        if w <= 0 or h <= 0:
            raise ValueError(f"resolution_wh must be positive, got {resolution_wh}")
        self.resolution_wh = (int(w), int(h))
        self.contour = scaled_contour(polygon01, self.resolution_wh)
        self.is_border = _border_cells(self.contour, self.resolution_wh)
        self.is_inside = _inside_cells(self.contour, self.resolution_wh)

    def trigger(self, detections: Detections) -> BoolArray:
        """Which detections stand in the zone (bottom-centre anchor inside or on the edge)."""
        return self.contains(detections.bottom_center)

    def contains(self, points: npt.NDArray[np.floating]) -> BoolArray:
        """Which ``(n, 2)`` pixel points lie inside or on the edge of the zone."""
        points = np.asarray(points).reshape(-1, 2)
        out = np.zeros(len(points), dtype=bool)
        if not len(points):
            return out
        finite = np.isfinite(points).all(axis=1)
        cell = np.zeros((len(points), 2), dtype=np.int64)
        cell[finite] = np.floor(points[finite]).astype(np.int64)
        rows, cols = self.is_inside.shape
        on_grid = finite & (cell[:, 0] >= 0) & (cell[:, 0] < cols) & (cell[:, 1] >= 0) & (cell[:, 1] < rows)
        cx, cy = np.where(on_grid, cell[:, 0], 0), np.where(on_grid, cell[:, 1], 0)
        out[on_grid] = self.is_inside[cy, cx][on_grid]
        exact = ~finite | (on_grid & self.is_border[cy, cx])
        if exact.any():
            out[exact] = _exact(self.contour, points[exact])
        return out


def _border_cells(contour: npt.NDArray[np.float32], resolution_wh: tuple[int, int]) -> BoolArray:
    w, h = resolution_wh
    border = np.zeros((h + 1, w + 1), dtype=bool)
    pts = contour.reshape(-1, 2).astype(np.float64)
    for p0, p1 in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        n = math.ceil(float(np.hypot(*(p1 - p0))) / _STEP) + 1
        samples = np.floor(np.linspace(p0, p1, n + 1)).astype(np.int64)
        for dy in range(-_REACH, _REACH + 1):
            for dx in range(-_REACH, _REACH + 1):
                x = np.clip(samples[:, 0] + dx, 0, w)
                y = np.clip(samples[:, 1] + dy, 0, h)
                border[y, x] = True
    return border


def _inside_cells(contour: npt.NDArray[np.float32], resolution_wh: tuple[int, int]) -> BoolArray:
    """Whether each cell's centre is inside; right for every cell that is not a border cell."""
    w, h = resolution_wh
    canvas = np.zeros((h + 1, w + 1), dtype=np.uint8)
    # pixel (x, y) of the canvas stands for the cell centre (x + 0.5, y + 0.5)
    fixed = np.round((contour.reshape(-1, 2).astype(np.float64) - 0.5) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [fixed], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    inside: BoolArray = canvas.astype(bool)
    return inside
