"""Prometheus metrics, one registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nce_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.ingest = Counter(
            "nce_ingest",
            "ingest requests by result (created, repeat, rejected)",
            ["kind", "result"],
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "nce_ingest_seconds",
            "time to check and store one package",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.ingest_bytes = Counter("nce_ingest_bytes", "bytes of accepted packages", registry=self.registry)
        self.cases = Gauge(
            "nce_cases", "cases by status (at scrape time)", ["status"], registry=self.registry
        )
        self.ledger_entries = Gauge(
            "nce_ledger_entries", "ledger length (at scrape time)", registry=self.registry
        )

        self.body_refused = Counter(
            "nce_http_body_refused",
            "requests refused because their body was larger than the route's limit (413)",
            registry=self.registry,
        )
        self.logins = Counter(
            "nce_logins",
            "sign-in attempts by result (ok, wrong, locked, busy)",
            ["result"],
            registry=self.registry,
        )
        self.login_lockouts = Counter(
            "nce_login_lockouts",
            "sign-in lockouts begun, by what was locked (account, address)",
            ["scope"],
            registry=self.registry,
        )
        self.login_hash_active = Gauge(
            "nce_login_hash_active", "password checks (Argon2id) running now", registry=self.registry
        )
        self.login_hash_peak = Gauge(
            "nce_login_hash_peak",
            "most password checks ever running at once in this process",
            registry=self.registry,
        )
        self.login_hash_waiting = Gauge(
            "nce_login_hash_waiting", "sign-ins waiting for a password check", registry=self.registry
        )
        # fleet health (service.fleet): the gauges are set at scrape time
        self.heartbeats = Counter("nce_heartbeats", "device heartbeats received", registry=self.registry)
        self.fleet_devices = Gauge(
            "nce_fleet_devices",
            "enabled devices by status (up, down, never)",
            ["status"],
            registry=self.registry,
        )
        self.fleet_cameras = Gauge(
            "nce_fleet_cameras", "reported cameras by status (up, down)", ["status"], registry=self.registry
        )
        self.fleet_clock_offset_max = Gauge(
            "nce_fleet_clock_offset_max_ms",
            "largest |clock offset| of a device's latest heartbeat, in ms",
            registry=self.registry,
        )

        # replicas (service.leader) and the ledger's one lock (service.ledger)
        self.leader = Gauge(
            "nce_leader", "1 while this replica runs the periodic jobs (sweeper, checkpoints, fleet)",
            registry=self.registry,
        )  # fmt: skip
        self.periodic_runs = Counter(
            "nce_periodic_runs", "periodic jobs this replica ran, by job", ["job"], registry=self.registry
        )
        lock_buckets = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
        self.ledger_lock_hold = Histogram(
            "nce_ledger_lock_hold_seconds",
            "how long a transaction held the ledger head's lock (taken to commit or rollback)",
            buckets=lock_buckets,
            registry=self.registry,
        )
        self.ledger_lock_wait = Histogram(
            "nce_ledger_lock_wait_seconds",
            "how long a transaction waited for the ledger head's lock",
            buckets=lock_buckets,
            registry=self.registry,
        )

    # service.ledger.LockTimer: the ledger head's lock, per transaction
    def waited(self, seconds: float) -> None:
        self.ledger_lock_wait.observe(seconds)

    def held(self, seconds: float) -> None:
        self.ledger_lock_hold.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CountRequests:
    """Counts every HTTP response (``nce_http_requests_total{method,route,status}``, ``route`` the
    matched route's template or ``unmatched``) as it starts. A plain ASGI middleware: Starlette's
    ``@app.middleware("http")`` ran each request in a task group of its own and passed its body
    through a stream, a cost per request and per body chunk (an upload is dozens of them)."""

    def __init__(self, app: ASGIApp, *, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", "unmatched")  # set by the router in scope
                self.counter.labels(scope["method"], route, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counted)
