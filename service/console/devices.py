"""The devices page (设备, ``/devices``): every enrolled device and its cameras with their state and
the age of the last heartbeat, down devices and cameras first (:func:`service.fleet.snapshot`), the
clock offset each device's last heartbeat measured, and a camera's latest frame from the frame pool
on request (a link; the frame is loaded only when asked for)."""

from __future__ import annotations

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


def latest_frames(session: Session) -> dict[str, int]:
    """Each camera's latest frame in the pool (its id), for the 最新画面 links."""
    rows = session.execute(select(Frame.camera_id, func.max(Frame.id)).group_by(Frame.camera_id)).all()
    return {camera: int(frame_id) for camera, frame_id in rows}


@router.get("/devices")
def devices_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    snap = fleet.snapshot(session, state.settings)
    return render(
        request,
        state,
        "devices.html",
        principal=principal,
        snap=snap,
        frames=latest_frames(session),
        down_devices=snap.count("down"),
        down_cameras=snap.cameras(down=True),
        device_down_after_s=state.settings.device_down_after_s,
        camera_down_after_s=state.settings.camera_down_after_s,
        clock_max_s=CLOCK_MAX_OFFSET_MS / 1000,
    )
