"""Camera masks: places on a camera's frame where detections of some classes are never believed
(learned from repeated dismissals of the same false detection, issue 16)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from detector.config.base import ConfigModel
from detector.config.model import DETECTOR_CLASSES
from detector.config.zones import check_polygon
from nce.zones import check_classes


class Mask(ConfigModel):
    """Detections of ``classes`` whose bottom-centre falls inside ``polygon`` are dropped before the
    tracker and the rules: they make no hit and no learning sample (counted in
    ``nce_masked_detections_total``)."""

    classes: list[str] = Field(
        min_length=1,
        title="Classes",
        description="the detector classes masked here (" + ", ".join(DETECTOR_CLASSES) + ")",
        examples=[["ad_board"]],
    )
    polygon: list[tuple[float, float]] = Field(
        title="Polygon",
        description="at least 3 [x, y] points as fractions of the frame (0..1, x right, y down), like a zone's",
        examples=[[[0.60, 0.10], [0.80, 0.10], [0.80, 0.40], [0.60, 0.40]]],
    )

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        return check_classes(value)

    @field_validator("polygon", mode="before")
    @classmethod
    def _polygon(cls, value: Any) -> Any:
        return check_polygon(value)
