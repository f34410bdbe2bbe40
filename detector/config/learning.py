"""Learning samples: which frames ``nce run`` sends to the service's frame pool to learn from
(issue 16): why a frame is picked, and how many per camera and day."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator

from detector.config.base import ConfigModel
from detector.config.schedule import TimeWindow
from nce.vocabulary import SampleReason


class SampleBudget(ConfigModel):
    """The most samples per camera and local day, for each reason."""

    low_confidence: int = Field(
        100, ge=0, title="Low confidence", description="samples with a detection scored inside low_conf"
    )
    near_miss: int = Field(50, ge=0, title="Near miss", description="samples where a zone rule almost fired")
    periodic: int = Field(
        48,
        ge=0,
        title="Periodic",
        description="ordinary frames (one per periodic_every_s), negatives included",
    )

    def of(self, reason: SampleReason) -> int:
        value: int = getattr(self, reason)
        return value


class LearningSettings(ConfigModel):
    """Sample packages (docs/evidence.md): raw frames with the model's detections, picked for the
    frame pool, signed and chained like every package and delivered through the outbox."""

    enabled: bool = Field(
        False, title="Enabled", description="send sample packages (needs device; delivered with uplink)"
    )
    low_conf: tuple[float, float] = Field(
        (0.15, 0.35),
        title="Low-confidence bounds",
        description=(
            "[low, high): a detection scored in it makes a low_confidence sample; scores below model.conf "
            "are seen only for this (the model then reports down to low) and never count for the rules"
        ),
    )
    daily_budget: int = Field(
        200,
        ge=0,
        title="Daily budget",
        description="most samples per camera per local day, all reasons together",
    )
    budget: SampleBudget = Field(
        default_factory=SampleBudget,
        title="Budget per reason",
        description="most samples per camera per local day, for each reason (the daily budget caps their sum)",
    )
    periodic_every_s: float = Field(
        3600.0,
        ge=0.0,
        le=86400.0,
        allow_inf_nan=False,
        title="Periodic interval",
        description=(
            "one periodic sample per camera in each such slot of the local day (from midnight), the "
            "first inferred frame in it; 0: none"
        ),
    )
    periodic_hours: TimeWindow | None = Field(
        None, title="Periodic hours", description="local hours periodic samples are taken (null: all day)"
    )
    min_gap_s: float = Field(
        60.0,
        ge=0.0,
        allow_inf_nan=False,
        title="Least gap",
        description=(
            "least frame time between two low_confidence (or two near_miss) samples of one camera, so a "
            "scene that stays does not spend the day's budget in a minute"
        ),
    )

    @field_validator("low_conf", mode="before")
    @classmethod
    def _bounds(cls, value: Any) -> Any:
        ok = (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
        )
        if not ok or not 0.0 < float(value[0]) < float(value[1]) <= 1.0:
            raise ValueError(f"expected [low, high) scores with 0 < low < high <= 1, got {value!r}")
        return value

    @field_validator("periodic_every_s")
    @classmethod
    def _periodic(cls, value: float) -> float:
        if 0 < value < 60:
            raise ValueError(f"expected 0 (none) or at least 60 seconds, got {value:g}")
        return value
