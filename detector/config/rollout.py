"""Remote model rollout (issue 17): whether ``nce run`` polls the service for its assignment, the
trusted release key, and the health thresholds it rolls a new model back on."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from detector.config.base import ConfigModel


class RolloutSettings(ConfigModel):
    """The edge polls ``GET /api/v1/devices/me/assignment`` (needs ``uplink``); a release is taken only
    when signed by ``release_pubkey`` and its model has the signed sha256."""

    enabled: bool = Field(
        False, title="Enabled", description="poll the service for model releases and camera settings"
    )
    release_pubkey: Path | None = Field(
        None,
        title="Release key",
        description="the trusted release public key (nce model release signs with its pair); default and "
        "normally: model.release_pubkey, the site's one release key (naming another is an error)",
    )
    poll_s: float = Field(30.0, gt=0.0, le=3600.0, title="Poll interval", description="seconds between polls")
    max_error_rate: float = Field(
        0.02, ge=0.0, le=1.0, title="Error rate", description="roll back above this share of failed frames"
    )
    max_detections_per_frame: float = Field(
        40.0, gt=0.0, title="Detection flood", description="roll back above this many detections per frame"
    )
    max_ratio: float = Field(
        3.0,
        gt=1.0,
        title="Rate ratio",
        description="roll back when detections or hits per camera-hour exceed this times the previous model's",
    )
    min_hours: float = Field(
        0.25,
        gt=0.0,
        title="Hours to compare",
        description="camera-hours of both models before rates are compared",
    )
