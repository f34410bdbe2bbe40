"""The fleet's tables: signed model releases, each device's latest health (heartbeats) and what each
device is assigned (rollouts). On :data:`service.models.Base`'s metadata like every table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nce.bounds import ID_MAX
from service.models import Base, utcnow


class ModelRelease(Base):
    """A signed model release (:mod:`nce.release`, :mod:`service.crud.releases`): its record as
    signed (``release.json``), and the model and card in the evidence store (by SHA-256). Added by an
    admin (``POST /api/v1/models``, ``nce admin add-model``) only when signed by a trusted release key;
    the ledger entry ``model_release_added`` records it (its seq is ``ledger_seq``)."""

    __tablename__ = "model_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(String(128), unique=True)
    model_sha256: Mapped[str] = mapped_column(String(64), index=True)
    model_bytes: Mapped[int] = mapped_column(Integer)
    card_sha256: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    signed: Mapped[dict[str, Any]] = mapped_column(JSON, doc="release.json: {record, signature}")
    added_by: Mapped[str] = mapped_column(String(100))
    ledger_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DeviceHealth(Base):
    """A device's latest heartbeat (:mod:`service.fleet`): when, what it said (``report``), its
    measured clock offset, and whether the sweeper holds it down. One row a device, overwritten."""

    __tablename__ = "device_health"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), primary_key=True)
    last_at: Mapped[dt.datetime] = mapped_column(doc="the server's time of the latest heartbeat")
    report: Mapped[dict[str, Any]] = mapped_column(JSON, doc="the latest Heartbeat, as JSON")
    offset_ms: Mapped[int] = mapped_column(Integer)
    error_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    clock_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    clock_changed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    clock_changed_offset_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    heartbeats: Mapped[int] = mapped_column(Integer, default=0)
    down: Mapped[bool] = mapped_column(Boolean, default=False)
    down_since: Mapped[dt.datetime | None] = mapped_column(default=None)


class CameraHealthRow(Base):
    """A camera's latest state as its device reported it; ``down`` is the sweeper's alert state
    (down for longer than ``camera_down_after_s``, or its device is down)."""

    __tablename__ = "camera_health"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(ID_MAX), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[dt.datetime] = mapped_column(doc="the device's time it entered the state")
    state_at: Mapped[dt.datetime] = mapped_column(doc="the server's time it first heard of the state")
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column()
    down: Mapped[bool] = mapped_column(Boolean, default=False)


class DeviceRollout(Base):
    """What a device is assigned (:mod:`service.crud.rollouts`): a model release on all its cameras or
    on canary cameras only, per-camera settings (:class:`nce.rollout.CameraSettings`), a ``version``
    bumped by each change (the assignment's ETag), and the rollout state the device last reported."""

    __tablename__ = "device_rollouts"

    device_id: Mapped[str] = mapped_column(String(ID_MAX), primary_key=True)
    release_id: Mapped[str | None] = mapped_column(String(128), default=None)
    canary_cameras: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    settings: Mapped[list[Any]] = mapped_column(JSON, default=list, doc="[CameraSettings]")
    version: Mapped[int] = mapped_column(Integer, default=0)
    assigned_by: Mapped[str | None] = mapped_column(String(100), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[str | None] = mapped_column(
        String(16), default=None, doc="pending|running|rolled_back|refused"
    )
    why: Mapped[str | None] = mapped_column(Text, default=None)
    state_at: Mapped[dt.datetime | None] = mapped_column(default=None)
