"""The app factory: ``create_app(settings)``.

The console mounts its own router and static files on the returned app::

    app = create_app(settings)
    app.include_router(console_router)
    app.mount("/static", StaticFiles(directory=...), name="static")

Every :class:`~service.errors.ServiceError` becomes ``{"detail": "…"}`` with its status code, in the one
handler below; the third-party errors that bad input can cause (``service.errors.TRANSLATED``) go
through it as 422s; a request FastAPI cannot validate is 422 listing each field without its input
(:mod:`service.api.validation`); every body is limited while it streams in (:mod:`service.body_limit`).
``/docs`` and ``/redoc`` (whose pages load Swagger UI / ReDoc from a CDN) are served in demo mode
only; ``/openapi.json`` always.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from nce import __version__
from service.api.routes import (
    account,
    auth,
    cases,
    devices,
    evidence,
    frames,
    health,
    hits,
    ledger,
    masks,
    models,
    notifications,
    rollouts,
    shops,
    thresholds,
    transparency,
)
from service.api.validation import on_invalid_request
from service.body_limit import BodyLimit, limit_for
from service.console import install as install_console
from service.crud.case_actions import sweep_deadlines
from service.db import make_engine, make_sessionmaker
from service.errors import TRANSLATED, ServiceError, safe_text, translate
from service.evidence_store import open_store
from service.fleet import sweep as fleet_sweep
from service.fleet_alerts import FleetAlerts
from service.hash_gate import HashGate
from service.leader import Leadership, run_periodic
from service.ledger import LOCK_TIMER
from service.legal import load_legal_basis
from service.metrics import CountRequests, Metrics
from service.migrate import upgrade
from service.outbox import worker as outbox
from service.outbox.config import load_integrations
from service.outbox.events import INFO_KEY, LINK_KEY
from service.public_copies import run_jobs as public_copy_jobs
from service.replica_settings import check_agreement, fingerprints
from service.settings import Settings
from service.state import AppState
from service.transparency import checkpoints
from service.transparency.key import TransparencyLog, load_service_key

log = logging.getLogger(__name__)


def build_state(settings: Settings) -> AppState:
    service_key = load_service_key(settings)  # refuses to start without it (one line)
    integrations = load_integrations(settings.integrations_file, demo=settings.demo)  # one line if bad
    store = open_store(settings)
    store.check()  # refuses to start (one line) when the bucket or folder cannot be reached
    engine = make_engine(settings.db_url)
    if settings.migrate_on_start:
        upgrade(engine)
    # replicas must agree on these (one line naming the setting otherwise)
    try:
        check_agreement(
            engine, fingerprints(settings, service_key), accept_changed=settings.accept_changed_settings
        )
    except OperationalError:
        if settings.migrate_on_start:
            raise
        # started without migrating, before its database answers: it serves 503s until it does
        log.warning("database unreachable at start: settings agreement with other replicas not checked")
    metrics = Metrics()
    if integrations.shop_page_base_url is None and settings.public_url is not None:  # the file's key wins
        integrations = replace(integrations, shop_page_base_url=settings.public_url.rstrip("/"))
    # the ledger lock's timer; the case actions queue messages with the integrations (an SMS carries
    # the shop page's link, derived from the secret key)
    info = {LOCK_TIMER: metrics, INFO_KEY: integrations, LINK_KEY: settings.secret_key}
    sessions = make_sessionmaker(engine, info=info)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        store=store,
        legal=load_legal_basis(settings.resolved_legal_basis_file()),
        metrics=metrics,
        hash_gate=HashGate(
            slots=settings.login_hash_slots,
            queue=settings.login_hash_queue,
            wait_s=settings.login_hash_wait_s,
            metrics=metrics,
        ),
        transparency=TransparencyLog(key=service_key, origin=settings.log_origin),
        integrations=integrations,
        ingest_slots=anyio.Semaphore(settings.ingest_slots),
    )


def _deadlines_and_checkpoints(state: AppState) -> None:
    s = state.settings
    with state.sessions() as session:
        for case_id, to in sweep_deadlines(session) if s.sweep_interval_s > 0 else ():
            log.info("case %s: deadline passed, now %s", case_id, to)
    if s.sweep_interval_s > 0:  # blurred stills: operators' requests, new notices (service.public_copies)
        with state.sessions() as session:
            for case_id, what in public_copy_jobs(session, store=state.store):
                log.info("case %s: public copy: %s", case_id, what)
    if s.checkpoint_interval_s > 0:
        with state.sessions() as session:
            checkpoints.periodic(session, state.transparency, interval_s=s.checkpoint_interval_s)


def _fleet(state: AppState) -> None:
    """Down devices and cameras (service.fleet.sweep)."""
    with state.sessions() as session:
        alerts = fleet_sweep(session, state.settings)
        session.commit()
    state.alerts.publish(alerts)


def _periodic_jobs(state: AppState, leadership: Leadership, stop: threading.Event) -> list[threading.Thread]:
    """The periodic jobs, each in its thread; they run on the leading replica only (service.leader)."""
    s = state.settings
    jobs = []
    if s.sweep_interval_s > 0 or s.checkpoint_interval_s > 0:
        every = min(i for i in (s.sweep_interval_s, s.checkpoint_interval_s) if i > 0)
        jobs.append(("sweeper", every, lambda: _deadlines_and_checkpoints(state)))
    if s.fleet_sweep_s > 0:
        jobs.append(("fleet", s.fleet_sweep_s, lambda: _fleet(state)))
    threads = []
    for name, every, job in jobs:
        ran = state.metrics.periodic_runs.labels(name).inc
        thread = threading.Thread(
            target=run_periodic,
            args=(name, every, job),
            kwargs={"leadership": leadership, "stop": stop, "ran": ran},
            name=f"nce-{name}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    return threads


def create_app(settings: Settings) -> FastAPI:
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        state.alerts = FleetAlerts(settings.mqtt_url)
        leadership = Leadership(state.engine, gauge=state.metrics.leader)
        threads = _periodic_jobs(state, leadership, stop)
        sender = None  # every replica sends (rows are claimed with SKIP LOCKED: service.outbox.worker)
        if settings.outbound_interval_s > 0:
            sender = threading.Thread(
                target=outbox.loop, name="nce-outbox", daemon=True,
                args=(state.sessions, state.integrations, outbox.Policy.of(settings),
                      settings.outbound_interval_s, stop),
            )  # fmt: skip
            sender.start()
            threads.append(sender)
        try:
            yield
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=5)
            leadership.release()
            state.alerts.close()
            state.engine.dispose()

    app = FastAPI(
        title="NCE case service",
        version=__version__,
        summary="Signed evidence in, reviewed cases out (非现场执法).",
        lifespan=lifespan,
        docs_url="/docs" if settings.demo else None,
        redoc_url="/redoc" if settings.demo else None,
    )
    app.state.nce = state

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if exc.retry_after is not None:
            headers = {"Retry-After": str(exc.retry_after)}
        elif exc.status_code == 503:
            headers = {"Retry-After": "5"}  # the edge relay waits this long before retrying
        return JSONResponse({"detail": safe_text(str(exc))}, status_code=exc.status_code, headers=headers)

    async def _third_party(request: Request, exc: Exception) -> JSONResponse:
        return await _service_error(request, translate(exc))  # the one place they are translated

    for kind in TRANSLATED:
        app.add_exception_handler(kind, _third_party)

    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_middleware(
        BodyLimit,
        limit=lambda method, path: limit_for(settings, method, path),
        on_refuse=state.metrics.body_refused.inc,
    )

    app.add_middleware(CountRequests, counter=state.metrics.requests)  # outermost of ours: sees the 413s

    for module in (
        health,
        auth,
        account,
        hits,
        devices,
        cases,
        evidence,
        frames,
        masks,
        models,
        notifications,
        rollouts,
        shops,
        ledger,
        thresholds,
        transparency,
    ):
        app.include_router(module.router)
    install_console(app)  # the operator console at / (pages, /static)
    return app
