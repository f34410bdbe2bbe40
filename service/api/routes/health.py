"""Liveness and Prometheus metrics.

``/metrics`` is not open to the world: it answers a client from ``NCE_METRICS_FROM`` (default the
loopback networks: Prometheus on the same host, or behind the reverse proxy of docs/deploy.md, which
passes the real client address) or one that sends ``Authorization: Bearer <NCE_METRICS_TOKEN>``;
anyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from service import fleet
from service.api.deps import SessionDep, StateDep
from service.errors import Forbidden
from service.models import Case, LedgerHead

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the database answers")
def healthz(session: SessionDep) -> JSONResponse:
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return JSONResponse({"status": "error", "db": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "db": "ok"})


def metrics_reader(request: Request, state: StateDep) -> None:
    settings = state.settings
    token = settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        ip = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip is not None and any(ip in net for net in settings.metrics_networks()):
        return
    allowed = settings.metrics_from or "no address"
    raise Forbidden(f"metrics: only from {allowed} or with Authorization: Bearer <NCE_METRICS_TOKEN>")


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={403: {"description": "not from NCE_METRICS_FROM and no NCE_METRICS_TOKEN"}},
    dependencies=[Depends(metrics_reader)],
)
def metrics(state: StateDep, session: SessionDep) -> Response:
    for status, n in session.execute(select(Case.status, func.count()).group_by(Case.status)).all():
        state.metrics.cases.labels(status).set(n)
    head = session.execute(select(LedgerHead.seq).where(LedgerHead.id == 1)).scalar_one_or_none()
    state.metrics.ledger_entries.set(head or 0)
    snap = fleet.snapshot(session, state.settings)
    for status in ("up", "down", "never"):
        state.metrics.fleet_devices.labels(status).set(snap.count(status))
    state.metrics.fleet_cameras.labels("up").set(snap.cameras(down=False))
    state.metrics.fleet_cameras.labels("down").set(snap.cameras(down=True))
    state.metrics.fleet_clock_offset_max.set(snap.max_offset_ms)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
