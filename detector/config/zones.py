"""Zones: the polygons on a camera's frame where rules apply, their kinds and exemptions."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from detector.config.base import ConfigModel, Id
from detector.config.schedule import Exemption
from nce.bounds import Name
from nce.zones import ZONE_KINDS as ZONE_KINDS
from nce.zones import ZoneKind as ZoneKind
from nce.zones import check_area, check_points
from nce.zones import polygon_area as polygon_area


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
    (zones and camera masks; the rules are :mod:`nce.zones`', shared with the console's editor)."""
    check_area(check_points(value))
    return value
