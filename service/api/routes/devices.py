"""Fleet health from the devices: ``POST /api/v1/devices/me/heartbeat`` (device token).

Heartbeats go through the edge's HTTP client, not its outbox: a late heartbeat is worth nothing, so
none is queued or retried. The answer carries the service's clock and the offset it measured
(:mod:`service.fleet`)."""

from __future__ import annotations

from fastapi import APIRouter

from nce.heartbeat import Heartbeat, HeartbeatAnswer
from service import fleet
from service.api.deps import Device, SessionDep, StateDep
from service.db import begin_write
from service.models import utcnow

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


@router.post(
    "/me/heartbeat",
    response_model=HeartbeatAnswer,
    summary="A device's heartbeat: its state now; the answer is the service's clock and the offset",
)
def heartbeat(data: Heartbeat, session: SessionDep, state: StateDep, principal: Device) -> HeartbeatAnswer:
    received_at = utcnow()
    begin_write(session)
    answer, alerts = fleet.record(
        session, device_id=principal.name, hb=data, received_at=received_at, actor=principal.actor
    )
    session.commit()
    state.metrics.heartbeats.inc()
    state.alerts.publish(alerts)
    return answer
