"""Zones and masks as the console's zone editor (区域编辑, ``/zones``) draws them, and the YAML lines it
writes for a camera's entry in the site config (``cameras[].zones`` and ``cameras[].masks``).

The service may not import the edge (``detector``), so :class:`ZoneDraft` and :class:`MaskDraft`
mirror the field rules of ``detector.config.zones.Zone`` and ``detector.config.masks.Mask``: the same
ids and names (:mod:`nce.bounds`), the same kinds, at least 3 points as fractions 0..1 with some area,
the detector's classes, no unknown keys, zone ids unique and a shop frontage naming its shop (the
site's cross checks). ``tests/console/test_console_zones.py`` proves that what :func:`yaml_lines`
writes loads with the edge's ``detector.config.parse_site_config``. Only pydantic and the standard
library here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nce.bounds import Id, Name
from nce.vocabulary import MODEL_CLASSES

__all__ = [
    "DECIMALS",
    "MASK_CLASSES",
    "ZONE_KINDS",
    "MaskDraft",
    "ZoneDraft",
    "ZoneKind",
    "ZoneSheet",
    "check_area",
    "check_classes",
    "check_points",
    "check_polygon",
    "polygon_area",
    "yaml_lines",
]

ZoneKind = Literal["shop_frontage", "sidewalk", "road", "no_ads"]
ZONE_KINDS: Final[tuple[ZoneKind, ...]] = get_args(ZoneKind)
MASK_CLASSES: Final[tuple[str, ...]] = (*MODEL_CLASSES, "person")  # the edge's DETECTOR_CLASSES
DECIMALS: Final = 4
MAX_POINTS: Final = 200
MAX_SHAPES: Final = 200


def check_points(value: Any, *, max_points: int | None = None) -> list[Any]:
    """A polygon of the frame as written: at least 3 ``[x, y]`` points (at most ``max_points``),
    numbers, fractions 0..1. The edge's zones and masks (:mod:`detector.config.zones`) and the editor
    (:func:`check_polygon`) check their points here; each then checks the area of what it keeps."""
    if not isinstance(value, list):
        raise ValueError(f"expected a list of [x, y] points, got {type(value).__name__}")
    if len(value) < 3:
        raise ValueError(f"expected at least 3 points, got {len(value)}")
    if max_points is not None and len(value) > max_points:
        raise ValueError(f"at most {max_points} points, got {len(value)}")
    for i, point in enumerate(value):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ValueError(f"point {i}: expected [x, y], got {point!r}")
        for v in point:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"point {i}: expected numbers, got {point!r}")
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(
                    f"point {i} {list(point)} is outside the frame: coordinates are fractions 0..1"
                )
    return value


def polygon_area(points: Sequence[Any]) -> float:
    """Area of a polygon (shoelace formula), in the squared unit of its points."""
    pts = list(points)
    area = 0.0
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        area += float(x1) * float(y2) - float(x2) * float(y1)
    return abs(area) / 2.0


def check_area(points: Sequence[Any]) -> None:
    if polygon_area(points) <= 1e-9:
        raise ValueError("the polygon has no area (its points are on one line)")


def check_classes(value: list[str]) -> list[str]:
    """A mask's classes: each a detector class (:data:`MASK_CLASSES`), none twice (the edge's
    ``detector.config.masks.Mask`` and the editor's :class:`MaskDraft`)."""
    for c in value:
        if c not in MASK_CLASSES:
            raise ValueError(f"unknown class {c!r} (detector classes: {', '.join(MASK_CLASSES)})")
    dup = sorted({c for c in value if value.count(c) > 1})
    if dup:
        raise ValueError(f"duplicate class {dup[0]!r}")
    return value


def check_polygon(value: Any) -> list[tuple[float, float]]:
    """The editor's polygon: :func:`check_points` (at most :data:`MAX_POINTS`), rounded to
    :data:`DECIMALS` as the YAML writes it, with some area after rounding."""
    points = [
        (round(float(x), DECIMALS), round(float(y), DECIMALS))
        for x, y in check_points(value, max_points=MAX_POINTS)
    ]
    check_area(points)
    return points


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ZoneDraft(_Draft):
    """One zone (``detector.config.zones.Zone``); ``exemptions`` are kept as they were pasted (the
    editor does not change them; the edge's loader validates them)."""

    id: Id
    kind: ZoneKind
    shop_id: Id | None = None
    name: Name | None = None
    polygon: list[tuple[float, float]]
    exemptions: list[dict[str, Any]] = Field(default_factory=list, max_length=50)

    @field_validator("polygon", mode="before")
    @classmethod
    def _polygon(cls, value: Any) -> Any:
        return check_polygon(value)

    @model_validator(mode="after")
    def _shop(self) -> ZoneDraft:
        if self.kind == "shop_frontage" and not self.shop_id:
            raise ValueError("a shop_frontage zone must name its shop (shop_id)")
        return self


class MaskDraft(_Draft):
    """One camera mask (``detector.config.masks.Mask``)."""

    classes: list[str] = Field(min_length=1)
    polygon: list[tuple[float, float]]

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        return check_classes(value)

    @field_validator("polygon", mode="before")
    @classmethod
    def _polygon(cls, value: Any) -> Any:
        return check_polygon(value)


class ZoneSheet(_Draft):
    """What one camera's editor holds: its zones and masks; zone ids unique."""

    zones: list[ZoneDraft] = Field(default_factory=list, max_length=MAX_SHAPES)
    masks: list[MaskDraft] = Field(default_factory=list, max_length=MAX_SHAPES)

    @model_validator(mode="after")
    def _unique(self) -> ZoneSheet:
        seen: set[str] = set()
        for z in self.zones:
            if z.id in seen:
                raise ValueError(f"duplicate zone id {z.id!r}")
            seen.add(z.id)
        return self


def _num(v: float) -> str:
    text = f"{v:.{DECIMALS}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _points(polygon: list[tuple[float, float]]) -> str:
    return "[" + ", ".join(f"[{_num(x)}, {_num(y)}]" for x, y in polygon) + "]"


def _str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def yaml_lines(sheet: ZoneSheet, camera_id: str | None = None) -> str:
    """The YAML lines of ``sheet`` to paste into a camera's entry of the site config (its ``zones:``
    and ``masks:`` keys), coordinates rounded to :data:`DECIMALS` decimals."""
    where = f"camera {camera_id}" if camera_id else "the camera"
    lines = [f"# zones and masks of {where}: paste into its entry under `cameras:` (cameras[].zones, .masks)"]
    lines.append("zones:" if sheet.zones else "zones: []")
    for z in sheet.zones:
        lines.append(f"- id: {_str(z.id)}")
        lines.append(f"  kind: {z.kind}")
        if z.shop_id:
            lines.append(f"  shop_id: {_str(z.shop_id)}")
        if z.name:
            lines.append(f"  name: {_str(z.name)}")
        lines.append(f"  polygon: {_points(z.polygon)}")
        if z.exemptions:
            lines.append(f"  exemptions: {json.dumps(z.exemptions, ensure_ascii=False)}")
    lines.append("masks:" if sheet.masks else "masks: []")
    for m in sheet.masks:
        lines.append(f"- classes: [{', '.join(m.classes)}]")
        lines.append(f"  polygon: {_points(m.polygon)}")
    return "\n".join(lines) + "\n"
