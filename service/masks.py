"""Learned masks, the computation (no database): where the same false detection keeps being dismissed.

A *dismissal* is one hard-negative box of a review that dismissed a case as a false detection
(:class:`Dismissal`: the case, the camera, the class, the box as fractions 0..1 of the still it was on,
when). The edge drops a detection of a mask's classes whose **bottom-centre** (its *foot*) is inside
the mask's polygon (``detector/masks.py``), so "the same place" is measured where the edge looks:

- per camera and class, dismissals whose feet lie within :attr:`MaskRules.radius` of one another
  (distance in fractions of the frame, ``hypot(dx, dy)``) are one place (single linkage: a foot near
  any foot of the place joins it). Box sizes of one phantom object vary between stills (partly
  occluded, merged with a neighbour) while its foot stays put; an IoU criterion would split those and
  says nothing about where the edge's test looks;
- a place with at least :attr:`MaskRules.min_dismissals` distinct cases is a proposal;
- its polygon (:func:`mask_polygon`) is the bounding rectangle of the boxes' *bottom parts* (the
  middle half of each box across, its lowest quarter up: where the foot of the same detection lands
  when its box jitters), padded by :attr:`MaskRules.margin` on each side, clipped to the frame and
  rounded outwards to 4 decimals, so every dismissed foot is inside with at least the margin to spare
  (on the frame's edge at worst, which the edge counts as inside).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from service.settings import Settings

Point = tuple[float, float]
Box = tuple[float, float, float, float]
DECIMALS = 4
SCALE = 10_000  # 10**DECIMALS


@dataclass(frozen=True)
class MaskRules:
    """When dismissals make a proposal (the service's ``mask_proposal_*`` settings)."""

    min_dismissals: int = 3
    days: int = 14
    radius: float = 0.05
    margin: float = 0.02

    @classmethod
    def of(cls, settings: Settings) -> MaskRules:
        return cls(
            min_dismissals=settings.mask_proposal_min_dismissals,
            days=settings.mask_proposal_days,
            radius=settings.mask_proposal_radius,
            margin=settings.mask_proposal_margin,
        )


@dataclass(frozen=True)
class Dismissal:
    """One box a review dismissed as a false detection, as fractions of its still."""

    case_id: int
    camera_id: str
    label: str
    box: Box
    at: dt.datetime
    frame_id: int | None = None

    @property
    def foot(self) -> Point:
        """The bottom-centre: what the edge tests against a mask."""
        x1, _y1, x2, y2 = self.box
        return ((x1 + x2) / 2, y2)


def normalised_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """A box in a frame's pixels as fractions 0..1 (clipped); None when it is not a finite box with
    some area or the frame has no size."""
    if width <= 0 or height <= 0 or len(box) != 4:
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    x1, x2 = (min(max(v / width, 0.0), 1.0) for v in (x1, x2))
    y1, y2 = (min(max(v / height, 0.0), 1.0) for v in (y1, y2))
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


@dataclass(frozen=True)
class Cluster:
    """Dismissals of one camera and class at one place."""

    camera_id: str
    label: str
    dismissals: tuple[Dismissal, ...]

    @property
    def case_ids(self) -> list[int]:
        return sorted({d.case_id for d in self.dismissals})

    @property
    def first(self) -> dt.datetime:
        return min(d.at for d in self.dismissals)

    @property
    def last(self) -> dt.datetime:
        return max(d.at for d in self.dismissals)

    def polygon(self, margin: float) -> list[Point]:
        return mask_polygon([d.box for d in self.dismissals], margin)


def _places(items: list[Dismissal], radius: float) -> list[list[Dismissal]]:
    """Single-linkage groups of ``items`` (feet within ``radius``); order-independent."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    feet = [d.foot for d in items]
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if math.hypot(feet[i][0] - feet[j][0], feet[i][1] - feet[j][1]) <= radius:
                a, b = root(i), root(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[Dismissal]] = {}
    for i, d in enumerate(items):
        groups.setdefault(root(i), []).append(d)
    return list(groups.values())


def _order(d: Dismissal) -> tuple[dt.datetime, int, int, Box]:
    return (d.at, d.case_id, d.frame_id or 0, d.box)


def clusters(dismissals: Iterable[Dismissal], *, radius: float) -> list[Cluster]:
    """Every place of every camera and class, by camera, class, then the earliest dismissal."""
    by_key: dict[tuple[str, str], list[Dismissal]] = {}
    for d in dismissals:
        by_key.setdefault((d.camera_id, d.label), []).append(d)
    out: list[Cluster] = []
    for (camera_id, label), items in sorted(by_key.items()):
        places = [sorted(g, key=_order) for g in _places(sorted(items, key=_order), radius)]
        for g in sorted(places, key=lambda g: _order(g[0])):
            out.append(Cluster(camera_id, label, tuple(g)))
    return out


def proposals(dismissals: Iterable[Dismissal], *, radius: float, min_dismissals: int) -> list[Cluster]:
    """The places with at least ``min_dismissals`` distinct cases."""
    return [c for c in clusters(dismissals, radius=radius) if len(c.case_ids) >= min_dismissals]


def _floor(v: float) -> float:
    return math.floor(round(v * SCALE, 6)) / SCALE


def _ceil(v: float) -> float:
    return math.ceil(round(v * SCALE, 6)) / SCALE


def mask_polygon(boxes: Iterable[Box], margin: float) -> list[Point]:
    """The padded bounding rectangle of the boxes' bottom parts (clockwise from top-left, fractions of
    the frame rounded outwards to 4 decimals). Raises ValueError for no boxes."""
    parts = []
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        parts.append((x1 + w / 4, y2 - h / 4, x2 - w / 4, y2))
    if not parts:
        raise ValueError("a mask polygon needs at least one box")
    left = _floor(max(0.0, min(p[0] for p in parts) - margin))
    top = _floor(max(0.0, min(p[1] for p in parts) - margin))
    right = _ceil(min(1.0, max(p[2] for p in parts) + margin))
    bottom = _ceil(min(1.0, max(p[3] for p in parts) + margin))
    return [(left, top), (right, top), (right, bottom), (left, bottom)]


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    if abs(cross) > 1e-12:
        return False
    return min(a[0], b[0]) - 1e-12 <= p[0] <= max(a[0], b[0]) + 1e-12 and (
        min(a[1], b[1]) - 1e-12 <= p[1] <= max(a[1], b[1]) + 1e-12
    )


def inside(polygon: Sequence[Sequence[float]], point: Point) -> bool:
    """Whether ``point`` is inside ``polygon`` or on its edge (as the edge's zones count it)."""
    pts = [(float(p[0]), float(p[1])) for p in polygon]
    x, y = point
    hit = False
    for a, b in zip(pts, pts[1:] + pts[:1], strict=True):
        if _on_segment(point, a, b):
            return True
        if (a[1] > y) != (b[1] > y):
            cross_x = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            if x < cross_x:
                hit = not hit
    return hit


def _num(v: float) -> str:
    return repr(round(float(v), DECIMALS))


def yaml_lines(
    camera_id: str, masks: Sequence[tuple[int, Sequence[str], Sequence[Sequence[float]], str]]
) -> str:
    """The accepted masks of one camera (``(proposal id, classes, polygon, who accepted)``) as the YAML
    lines to paste under that camera's ``masks:`` in the site config (``cameras[].masks``); comments
    name each proposal. Parses as a list of ``detector.config.masks.Mask`` (``[]`` when none)."""
    head = (
        f"# learned masks of camera {camera_id}: paste under its `masks:` in the site config "
        "(cameras[].masks)"
    )
    if not masks:
        return f"{head}\n# no accepted mask yet\n[]\n"
    lines = [head]
    for proposal_id, classes, polygon, who in masks:
        points = ", ".join(f"[{_num(x)}, {_num(y)}]" for x, y in polygon)
        lines += [
            f"# proposal {proposal_id}, accepted by {who}",
            f"- classes: [{', '.join(classes)}]",
            f"  polygon: [{points}]",
        ]
    return "\n".join(lines) + "\n"
