"""Rules: which detector classes in which kinds of zone, for how long, make which violation."""

from __future__ import annotations

from pydantic import Field, field_validator

from detector.config.base import ConfigModel
from detector.config.schedule import TimeWindow
from detector.config.zones import ZoneKind
from nce.bounds import Label
from nce.vocabulary import Violation


class Rule(ConfigModel):
    """One violation: its classes in zones of its kinds, held for the dwell, make a hit."""

    violation: Violation = Field(
        title="Violation", description="the violation a hit of this rule is", examples=["out_of_shop_trading"]
    )
    zone_kinds: list[ZoneKind] = Field(
        min_length=1,
        title="Zone kinds",
        description="the kinds of zone the rule watches",
        examples=[["shop_frontage"]],
    )
    classes: list[Label] = Field(
        min_length=1,
        title="Classes",
        description="detector classes that count (names from the model's metadata)",
        examples=[["stall", "goods", "umbrella", "ad_board"]],
    )
    min_dwell_s: float = Field(
        300.0, ge=0.0, title="Dwell", description="presence needed before a hit confirms, seconds"
    )
    active_hours: TimeWindow | None = Field(
        None,
        title="Active hours",
        description="local hours the rule applies (null: all day); outside them the zone counts as empty",
    )
    cooldown_s: float = Field(
        1800.0,
        ge=0.0,
        title="Cooldown",
        description="same zone + violation: one hit per cooldown; later sightings update it",
    )
    grace_s: float = Field(
        30.0,
        ge=0.0,
        title="Grace",
        description="gaps (occlusion) up to this long do not reset dwell; empty this long clears",
    )
    min_score: float = Field(
        0.0, ge=0.0, le=1.0, title="Least score", description="detections scored below this do not count"
    )
    min_area_px: float = Field(
        0.0, ge=0.0, title="Least area", description="smallest box area in square pixels"
    )
    update_interval_s: float = Field(
        60.0, gt=0.0, title="Update interval", description="rate of still_present updates, seconds"
    )

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        for c in value:
            if not c or not c.strip():
                raise ValueError("expected class names, got an empty one")
        return value
