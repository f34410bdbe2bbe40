"""Evidence packages: stills, clip, OCR and the disk they may use."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from detector.config.base import ConfigModel


class EvidenceSettings(ConfigModel):
    """Evidence packages (docs/evidence.md): what each holds and how much disk they may use."""

    quota_bytes: int | None = Field(
        None,
        ge=0,
        title="Disk quota",
        description="most bytes under evidence/; above it delivered packages are pruned; null: no quota",
    )
    jpeg_quality: int = Field(
        92, ge=90, le=100, title="JPEG quality", description="JPEG quality of stills (>= 90)"
    )
    clip_pre_s: float = Field(
        5.0, ge=0.0, le=60.0, title="Clip before", description="clip seconds before first seen"
    )
    clip_post_s: float = Field(
        5.0, ge=0.0, le=60.0, title="Clip after", description="clip seconds after first seen"
    )
    clip_fps: float = Field(5.0, gt=0.0, le=30.0, title="Clip rate", description="frame rate of the clip")
    clip_codec: Literal["h264", "vp9"] = Field(
        "h264", title="Clip codec", description="h264 (MP4) or vp9 (WebM)"
    )
    ocr: bool = Field(True, title="OCR", description="read ad text in illegal_ad crops (needs the ocr extra)")
    font_file: Path | None = Field(
        None, title="Label font", description="a CJK font for labels; null: one found on disk"
    )
    still_present_package_s: float = Field(
        600.0,
        ge=0.0,
        allow_inf_nan=False,
        title="Still-present packages",
        description=(
            "a signed still_present package (a later still + crop, no clip) at most this often per "
            "confirmed hit that stays: the 'after' evidence past a notice's deadline; 0: none"
        ),
    )

    @field_validator("still_present_package_s", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected seconds (a number, 0 for none), got {value!r}")
        return value
