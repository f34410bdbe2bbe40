"""Fleet health: heartbeats in, devices and cameras up or down, the devices' clocks.

:func:`record` stores a device's heartbeat (``POST /api/v1/devices/me/heartbeat``): its report, one
row per camera, and the device's clock offset, estimated as ``sent_at + rtt/2 - received_at`` (the
box's clock when it sent, the request's one-way trip taken as half the round trip the box measured
for its previous heartbeat, the server's clock when the request arrived): the error is at most
``rtt/2``, and without a round trip at most the upload delay. A device whose last measured
``|offset|`` exceeds :data:`~nce.heartbeat.CLOCK_MAX_OFFSET_MS` is *clock off*: every package it
delivers meanwhile is flagged (``hit_events.clock_offset_ms``, the case page's 设备时钟偏差), and each
change between off and ok is a ledger entry (``device_clock_off`` / ``device_clock_ok``).

:func:`sweep` (the service's fleet thread, every ``fleet_sweep_s``) holds a device down when no
heartbeat came for ``device_down_after_s`` and a camera down when its device reported it not up for
longer than ``camera_down_after_s``; every change is an :class:`Alert` (logged, and published over
MQTT by :mod:`service.fleet_alerts` when ``NCE_MQTT_URL`` is set). The console's 设备 page and the
``/metrics`` gauges read the same state through :func:`snapshot`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nce.heartbeat import CLOCK_MAX_OFFSET_MS, Heartbeat, HeartbeatAnswer
from service import ledger
from service.models import Device, HitEventRow, utcnow
from service.models_fleet import CameraHealthRow, DeviceHealth
from service.settings import Settings

__all__ = [
    "ALERTING_STATES",
    "Alert",
    "CameraView",
    "DeviceView",
    "FleetSnapshot",
    "clock_flags",
    "clock_offset_if_off",
    "estimate_offset",
    "record",
    "snapshot",
    "sweep",
]

ALERTING_STATES = frozenset({"connecting", "down", "failed"})  # not up, and not ended on purpose
Status = Literal["up", "down"]


@dataclass(frozen=True)
class Alert:
    """A device or camera went down or came back (``camera_id`` None: the device itself)."""

    device_id: str
    camera_id: str | None
    status: Status
    site_id: str | None
    at: dt.datetime
    detail: str = ""


def estimate_offset(hb: Heartbeat, received_at: dt.datetime) -> tuple[int, int | None]:
    """The box's clock minus the server's, in ms, and the estimate's error bound (None: unknown)."""
    half = hb.rtt_ms / 2 if hb.rtt_ms is not None else 0.0
    offset = (hb.sent_at - received_at).total_seconds() * 1000 + half
    return round(offset), (round(half) if hb.rtt_ms is not None else None)


def clock_offset_if_off(session: Session, device_id: str) -> int | None:
    """The device's last measured offset (ms) if its clock is off now; None when ok or unmeasured.
    What the ingest stores on a package's row."""
    row = session.get(DeviceHealth, device_id)
    return row.offset_ms if row is not None and not row.clock_ok else None


def clock_flags(session: Session, case_id: int) -> tuple[int, int]:
    """How many of a case's hits arrived while their device's clock was off, and the largest |offset|
    (ms) among them (the case page's 设备时钟偏差 warning)."""
    n, worst = session.execute(
        select(func.count(), func.max(func.abs(HitEventRow.clock_offset_ms))).where(
            HitEventRow.case_id == case_id, HitEventRow.clock_offset_ms.is_not(None)
        )
    ).one()
    return int(n), int(worst or 0)


def record(
    session: Session, *, device_id: str, hb: Heartbeat, received_at: dt.datetime, actor: str
) -> tuple[HeartbeatAnswer, list[Alert]]:
    """Store ``hb`` (the caller commits); the answer and the alerts of the devices and cameras
    that came back."""
    offset, error = estimate_offset(hb, received_at)
    clock_ok = abs(offset) <= CLOCK_MAX_OFFSET_MS
    site = hb.site_id
    alerts: list[Alert] = []
    row = session.get(DeviceHealth, device_id, with_for_update=True)
    first = row is None
    if row is None:
        row = DeviceHealth(device_id=device_id, heartbeats=0, down=False, clock_ok=True)
        session.add(row)
    changed = (not clock_ok) if first else row.clock_ok != clock_ok  # a first heartbeat: ok is no news
    if row.down:
        alerts.append(Alert(device_id, None, "up", site, received_at, "heartbeat again"))
    row.last_at = received_at
    row.report = hb.model_dump(mode="json")
    row.offset_ms, row.error_ms, row.clock_ok = offset, error, clock_ok
    row.heartbeats = (row.heartbeats or 0) + 1
    row.down, row.down_since = False, None
    if changed:
        _clock_entry(session, row, device_id, offset, error, received_at, actor)
    cameras = {
        c.camera_id: c
        for c in session.execute(
            select(CameraHealthRow).where(CameraHealthRow.device_id == device_id)
        ).scalars()
    }
    for cam in hb.cameras:
        since = min(cam.since - dt.timedelta(milliseconds=offset), received_at)  # on the server's clock
        c = cameras.get(cam.id)
        if c is None:
            c = CameraHealthRow(device_id=device_id, camera_id=cam.id, down=False, state_at=since)
            session.add(c)
        elif c.state != cam.state:
            c.state_at = since
        if c.down and cam.state not in ALERTING_STATES:
            c.down = False
            alerts.append(Alert(device_id, cam.id, "up", site, received_at, cam.state))
        c.state, c.since, c.fps, c.reconnects, c.updated_at = (
            cam.state, cam.since, cam.fps, cam.reconnects, received_at,
        )  # fmt: skip
    server_time = utcnow()
    answer = HeartbeatAnswer(
        received_at=received_at, server_time=server_time, offset_ms=offset, error_ms=error, clock_ok=clock_ok
    )
    return answer, alerts


def _clock_entry(
    session: Session,
    row: DeviceHealth,
    device_id: str,
    offset: int,
    error: int | None,
    at: dt.datetime,
    actor: str,
) -> None:
    ok = abs(offset) <= CLOCK_MAX_OFFSET_MS
    row.clock_changed_at, row.clock_changed_offset_ms = at, offset
    ledger.append(
        session,
        actor=actor,
        action="device_clock_ok" if ok else "device_clock_off",
        case_id=None,
        payload={"device_id": device_id, "offset_ms": offset, "error_ms": error},
    )


def sweep(session: Session, settings: Settings, *, now: dt.datetime | None = None) -> list[Alert]:
    """Mark devices and cameras down whose time is up (the caller commits); the alerts."""
    now = now or utcnow()
    alerts: list[Alert] = []
    device_late = now - dt.timedelta(seconds=settings.device_down_after_s)
    camera_late = now - dt.timedelta(seconds=settings.camera_down_after_s)
    for row in session.execute(select(DeviceHealth).where(DeviceHealth.down.is_(False))).scalars():
        if row.last_at < device_late:
            row.down, row.down_since = True, row.last_at
            alerts.append(
                Alert(
                    row.device_id, None, "down", _site(row), now, f"no heartbeat since {row.last_at:%H:%M:%S}"
                )
            )
    downs = {r.device_id for r in session.execute(select(DeviceHealth).where(DeviceHealth.down)).scalars()}
    query = select(CameraHealthRow).where(CameraHealthRow.down.is_(False))
    for cam in session.execute(query).scalars():
        if cam.device_id in downs:
            continue  # its device's alert says it
        if cam.state in ALERTING_STATES and cam.state_at < camera_late:
            cam.down = True
            site = _site(session.get(DeviceHealth, cam.device_id))
            alerts.append(Alert(cam.device_id, cam.camera_id, "down", site, now, cam.state))
    return alerts


def _site(row: DeviceHealth | None) -> str | None:
    site = row.report.get("site_id") if row is not None else None
    return site if isinstance(site, str) else None


@dataclass(frozen=True)
class CameraView:
    camera_id: str
    state: str
    down: bool
    state_for_s: float
    fps: float
    reconnects: int


@dataclass(frozen=True)
class DeviceView:
    device_id: str
    status: Literal["up", "down", "never"]
    last_at: dt.datetime | None
    age_s: float | None
    report: dict[str, object]
    offset_ms: int | None
    error_ms: int | None
    clock_ok: bool
    cameras: list[CameraView]

    @property
    def cameras_down(self) -> int:
        return sum(c.down for c in self.cameras)


@dataclass(frozen=True)
class FleetSnapshot:
    devices: list[DeviceView]  # down devices first, then those with cameras down, then the rest

    def count(self, status: str) -> int:
        return sum(d.status == status for d in self.devices)

    def cameras(self, down: bool) -> int:
        return sum(c.down == down for d in self.devices for c in d.cameras)

    @property
    def max_offset_ms(self) -> int:
        return max((abs(d.offset_ms) for d in self.devices if d.offset_ms is not None), default=0)


def snapshot(session: Session, settings: Settings, *, now: dt.datetime | None = None) -> FleetSnapshot:
    """Every enabled device and its cameras as of ``now``: down is judged here from the times (the
    same rule as :func:`sweep`), so the page is right even between sweeps."""
    now = now or utcnow()
    health = {r.device_id: r for r in session.execute(select(DeviceHealth)).scalars()}
    cams: dict[str, list[CameraHealthRow]] = {}
    for c in session.execute(select(CameraHealthRow).order_by(CameraHealthRow.camera_id)).scalars():
        cams.setdefault(c.device_id, []).append(c)
    views: list[DeviceView] = []
    for device_id in session.execute(
        select(Device.device_id).where(Device.enabled).order_by(Device.device_id)
    ).scalars():
        row = health.get(device_id)
        if row is None:
            views.append(DeviceView(device_id, "never", None, None, {}, None, None, True, []))
            continue
        age = (now - row.last_at).total_seconds()
        down = row.down or age > settings.device_down_after_s
        cameras = [
            CameraView(
                c.camera_id,
                c.state,
                down
                or c.down
                or (
                    c.state in ALERTING_STATES
                    and (now - c.state_at).total_seconds() > settings.camera_down_after_s
                ),
                max(0.0, (now - c.state_at).total_seconds()),
                c.fps,
                c.reconnects,
            )
            for c in cams.get(device_id, [])
        ]
        cameras.sort(key=lambda c: (not c.down, c.camera_id))
        views.append(
            DeviceView(
                device_id,
                "down" if down else "up",
                row.last_at,
                age,
                row.report,
                row.offset_ms,
                row.error_ms,
                row.clock_ok,
                cameras,
            )
        )
    views.sort(key=lambda d: (d.status != "down", d.cameras_down == 0, d.status != "never", d.device_id))
    return FleetSnapshot(views)
