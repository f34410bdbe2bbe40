"""Liveness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from service.api.deps import SessionDep, StateDep
from service.models import Case, LedgerHead

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the database answers")
def healthz(session: SessionDep) -> JSONResponse:
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return JSONResponse({"status": "error", "db": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "db": "ok"})


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics(state: StateDep, session: SessionDep) -> Response:
    for status, n in session.execute(select(Case.status, func.count()).group_by(Case.status)).all():
        state.metrics.cases.labels(status).set(n)
    head = session.execute(select(LedgerHead.seq).where(LedgerHead.id == 1)).scalar_one_or_none()
    state.metrics.ledger_entries.set(head or 0)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
