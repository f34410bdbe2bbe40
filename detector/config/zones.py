"""Zones: the polygons on a camera's frame where rules apply, their kinds and exemptions."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator

from detector.config.base import ConfigModel, Id
from detector.config.schedule import Exemption
from nce.bounds import Name
from nce.zones import ZONE_KINDS as ZONE_KINDS
from nce.zones import ZoneKind as ZoneKind


class Zone(ConfigModel):
    """A polygon on one camera's frame; an object is in it when the bottom-centre of its box is."""

    id: Id = Field(
        title="Zone id",
        description="unique across all cameras; hits and cases name it",
        examples=["z-frontage-0001"],
    )
    kind: ZoneKind = Field(
        title="Kind",
        description="what the zone is (shop_frontage | sidewalk | road | no_ads); rules pick zones by kind",
        examples=["shop_frontage"],
    )
    shop_id: Id | None = Field(
        None,
        title="Shop",
        description="the shop in `shops` whose frontage this is; a shop_frontage zone must name one",
        examples=["S-0001"],
    )
    polygon: list[tuple[float, float]] = Field(
        title="Polygon",
        description="at least 3 [x, y] points as fractions of the frame (0..1, x right, y down)",
        examples=[[[0.10, 0.55], [0.45, 0.55], [0.45, 0.95], [0.10, 0.95]]],
    )
    exemptions: list[Exemption] = Field(
        default_factory=list,
        title="Exemptions",
        description="allowed outdoor trading (外摆位): the zone counts as empty inside these windows",
    )
    name: Name | None = Field(
        None,
        title="Name",
        description="a name for people (evidence manifests carry it)",
        examples=["好又多水果店 门前"],
    )

    @field_validator("polygon", mode="before")
    @classmethod
    def _polygon(cls, value: Any) -> Any:
        return check_polygon(value)


def check_polygon(value: Any) -> Any:
    """A polygon of the frame as written: at least 3 ``[x, y]`` points, fractions 0..1, some area
    (zones and camera masks)."""
    if not isinstance(value, list):
        raise ValueError(f"expected a list of [x, y] points, got {type(value).__name__}")
    if len(value) < 3:
        raise ValueError(f"expected at least 3 points, got {len(value)}")
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
    if polygon_area(value) <= 1e-9:
        raise ValueError("the polygon has no area (its points are on one line)")
    return value


def polygon_area(points: list[Any]) -> float:
    """Area of a polygon (shoelace formula), in the squared unit of its points."""
    area = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        area += float(x1) * float(y2) - float(x2) * float(y1)
    return abs(area) / 2.0
