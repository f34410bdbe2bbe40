"""The rollout contract between the service and the edge (issue 17): what a device is assigned
(``GET /api/v1/devices/me/assignment``), the per-camera settings it is sent, and the rollout state it
reports back (``POST /api/v1/devices/me/rollout``).

:class:`CameraSettings` is the one contract for remote per-camera settings. The service validates a
supervisor's change with it; the edge validates it again by building its cameras through the site
config's own models (``detector/remote_settings.py``: ``Camera``, ``Mask``), so a setting the site
config would refuse is refused remotely too. Only pydantic and the standard library here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nce.bounds import Id, Label, Sha256Hex, Text
from nce.release import ReleaseId

__all__ = [
    "ROLLOUT_STATES",
    "Assignment",
    "CameraSettings",
    "RemoteMask",
    "RolloutReport",
    "RolloutState",
]

RolloutState = Literal["pending", "running", "rolled_back", "refused"]
ROLLOUT_STATES: tuple[RolloutState, ...] = ("pending", "running", "rolled_back", "refused")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteMask(_Strict):
    """A mask as the service sends it (an accepted mask proposal): classes and a polygon in 0..1."""

    classes: list[Label] = Field(min_length=1, max_length=16)
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=64)

    @field_validator("polygon")
    @classmethod
    def _inside(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for x, y in value:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"polygon point ({x}, {y}) is outside the frame (0..1)")
        return value


class CameraSettings(_Strict):
    """One camera's remote settings; a field left out (None) keeps the site config's value."""

    camera_id: Id
    enabled: bool | None = None
    min_score: float | None = Field(None, ge=0.0, le=1.0)
    masks: list[RemoteMask] | None = Field(None, max_length=64)


class Assignment(_Strict):
    """What a device runs: a release (None: the site config's model) on all its cameras or on the
    canary cameras only, and the per-camera settings. ``version`` changes with every change; the
    endpoint's ``ETag`` is derived from it."""

    version: int = Field(ge=0)
    release_id: ReleaseId | None = None
    sha256: Sha256Hex | None = None
    model_url: str | None = Field(None, max_length=300)
    canary_cameras: list[Id] | None = Field(None, max_length=256)
    settings: list[CameraSettings] = Field(default_factory=list, max_length=256)


class RolloutReport(_Strict):
    """The edge's report of a release's state on it."""

    release_id: ReleaseId
    state: RolloutState
    why: Text | None = None
    cameras: list[Id] = Field(default_factory=list, max_length=256)
