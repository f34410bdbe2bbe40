"""The devices page (设备, ``/devices``): every enrolled device and its cameras with their state and
the age of the last heartbeat, down devices and cameras first (:func:`service.fleet.snapshot`), the
clock offset each device's last heartbeat measured, and a camera's latest frame from the frame pool
on request (a link; the frame is loaded only when asked for). :data:`PAGE_DEVICES` devices a page
(``?page=N``, in that order: the problems on the first pages); the alerts at the top count the whole
fleet."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nce.heartbeat import CLOCK_MAX_OFFSET_MS
from service import fleet
from service.api.deps import SessionDep, StateDep
from service.console.deps import Operator
from service.console.render import render
from service.models import Frame

router = APIRouter(include_in_schema=False)


PAGE_DEVICES = 50


def latest_frames(session: Session, cameras: Collection[str]) -> dict[str, int]:
    """Each of ``cameras``' latest frame in the pool (its id), for the 最新画面 links."""
    if not cameras:
        return {}
    rows = session.execute(
        select(Frame.camera_id, func.max(Frame.id))
        .where(Frame.camera_id.in_(cameras))
        .group_by(Frame.camera_id)
    ).all()
    return {camera: int(frame_id) for camera, frame_id in rows}


def page_number(raw: str | None, pages: int) -> int:
    """``?page=`` as a page that exists (1 when absent or not a number, the last when past it)."""
    n = int(raw) if raw is not None and raw.isascii() and raw.isdigit() and len(raw) < 10 else 1
    return min(max(n, 1), pages)


@router.get("/devices")
def devices_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    snap = fleet.snapshot(session, state.settings)
    pages = max(1, -(-len(snap.devices) // PAGE_DEVICES))
    page = page_number(request.query_params.get("page"), pages)
    shown = snap.devices[(page - 1) * PAGE_DEVICES : page * PAGE_DEVICES]
    return render(
        request,
        state,
        "devices.html",
        principal=principal,
        snap=snap,
        shown=shown,
        page=page,
        pages=pages,
        frames=latest_frames(session, {c.camera_id for d in shown for c in d.cameras}),
        down_devices=snap.count("down"),
        down_cameras=snap.cameras(down=True),
        device_down_after_s=state.settings.device_down_after_s,
        camera_down_after_s=state.settings.camera_down_after_s,
        clock_max_s=CLOCK_MAX_OFFSET_MS / 1000,
    )
