"""The heartbeat: what an edge box tells the service about itself every ``uplink.heartbeat_s``.

One contract for both sides: ``nce run`` builds a :class:`Heartbeat` (detector.delivery.heartbeat),
``POST /api/v1/devices/me/heartbeat`` validates it (a bad one is a 422 naming the field) and answers
a :class:`HeartbeatAnswer`. Every field is bounded (:mod:`nce.bounds`): strings, counts, and at most
:data:`CAMERAS_MAX` cameras.

The clock: ``sent_at`` is the box's clock when it sent the request. The service estimates the box's
offset from its own clock as ``sent_at + rtt/2 - received_at`` (``rtt_ms``: the round trip of the
box's previous heartbeat, as the box measured it), which is off by at most ``rtt/2``; without a
round trip the upload delay is the error. The answer carries the service's times, so that the box
can make the NTP estimate ``((t1 - t0) + (t2 - t3)) / 2`` itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nce.bounds import Count, Id, Label, Sha256Hex, Text, UtcTime

__all__ = [
    "CAMERAS_MAX",
    "CLOCK_MAX_OFFSET_MS",
    "CameraHealth",
    "CameraState",
    "Heartbeat",
    "HeartbeatAnswer",
]

CAMERAS_MAX = 256
CLOCK_MAX_OFFSET_MS = 1000  # GB/T parking enforcement: at most 1 s of clock error
_SECONDS_MAX = 10 * 365 * 86400  # ten years, in seconds
_MS_MAX = 86_400_000  # a day, in milliseconds

CameraState = Literal["connecting", "up", "down", "eof", "failed", "stopped"]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraHealth(_Contract):
    """One camera as the box sees it."""

    id: Id
    state: CameraState
    since: UtcTime = Field(description="when the camera entered this state (the box's clock)")
    fps: float = Field(ge=0.0, le=1000.0, description="frames decoded a second, lately")
    reconnects: Count = 0
    problem: Text = Field("", max_length=300, description="why it last went down, if it did")


class Heartbeat(_Contract):
    """``POST /api/v1/devices/me/heartbeat``: the box's state now."""

    version: Label = Field(description="the edge's nce version")
    site_id: Id | None = Field(None, description="the site config's site (MQTT alert topics)")
    model_sha256: Sha256Hex | None = None
    cameras: list[CameraHealth] = Field(default_factory=list, max_length=CAMERAS_MAX)
    outbox_depth: Count = Field(0, description="items waiting to be delivered")
    outbox_oldest_s: float = Field(0.0, ge=0.0, le=_SECONDS_MAX, description="age of the oldest")
    evidence_bytes: int = Field(0, ge=0, le=2**53 - 1, description="evidence on the box's disk")
    disk_free_bytes: int | None = Field(None, ge=0, le=2**53 - 1)
    cpu_load: float | None = Field(None, ge=0.0, le=1024.0, description="1-minute load average")
    gpu_util: float | None = Field(None, ge=0.0, le=100.0, description="percent, if a GPU is known")
    sent_at: UtcTime = Field(description="the box's clock when it sent this")
    rtt_ms: float | None = Field(None, ge=0.0, le=_MS_MAX, description="previous heartbeat's round trip")


class HeartbeatAnswer(_Contract):
    """The service's answer: its clock, and the box's clock offset it measured."""

    received_at: dt.datetime
    server_time: dt.datetime = Field(description="the service's clock when it answered")
    offset_ms: int = Field(description="the box's clock minus the service's (estimate)")
    error_ms: int | None = Field(description="the estimate's error bound (half the round trip)")
    clock_ok: bool = Field(description=f"|offset| <= {CLOCK_MAX_OFFSET_MS} ms")
