"""Fixtures: the real service over HTTP on a loopback port, on SQLite and on the real PostgreSQL.

``running(...)`` serves :func:`service.app.create_app` with exactly the uvicorn configuration
``nce serve`` uses (:func:`service.server.config`, the header-timeout protocol included) in a
thread; the default server (``svc``) runs with small sign-in limits and short lockouts so that the
tests can reach and outlive them. Sign-in counters are emptied before each test.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from service.app import create_app
from service.db import make_engine
from service.migrate import upgrade
from service.models import User
from service.security import hash_password
from service.server import config as server_config
from service.settings import Settings
from service.state import AppState
from tests.security.sec_service import Service as CaseService
from tests.service.conftest import api  # noqa: F401  (the real app on a fresh database: the ledger and account tests)
from tests.support.postgres import migrated_database
from tests.support.servers import NceServe, free_port, service_key_file, serving, serving_config
from tests.support.service_api import empty

SECRET = "security-test-secret-0123456789"
PASSWORD = "the right passphrase 1"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')

# the default server's policy: small numbers and short lockouts, so the tests reach and outlive them
POLICY: dict[str, Any] = {
    "login_account_failures": 3,
    "login_address_failures": 6,
    "login_window_s": 60,
    "login_lockout_s": 2,
    "login_lockout_max_s": 8,
    "header_timeout_s": 1.5,
    "metrics_token": METRICS_TOKEN,
}
_hash: list[str] = []


def password_hash() -> str:
    if not _hash:
        _hash.append(hash_password(PASSWORD))  # Argon2id is slow on purpose: once per run
    return _hash[0]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('secdb')}/nce.sqlite3"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    with migrated_database("nce_sec") as url:
        yield url


@dataclass
class Running:
    url: str
    port: int
    state: AppState

    def add_user(self, role: str = "operator") -> str:
        """A new user with :data:`PASSWORD`; returns the username."""
        username = f"{role}-{secrets.token_hex(4)}"
        with self.state.sessions() as s:
            s.add(User(username=username, role=role, password_hash=password_hash()))
            s.commit()
        return username

    def reset_throttle(self) -> None:
        with self.state.engine.begin() as conn:
            conn.execute(text("DELETE FROM login_throttle"))

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        r = httpx.get(f"{self.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200, r.text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def login(self, username: str, password: str, address: str | None = None) -> httpx.Response:
        headers = {"X-Forwarded-For": address} if address else {}
        return httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": username, "password": password},
            headers=headers,
            timeout=60,
        )


@contextmanager
def running(db_url: str, evidence_dir: Path, **overrides: Any) -> Iterator[Running]:
    """The service on a free loopback port, served as ``nce serve`` serves it."""
    settings = Settings(
        db_url=db_url,
        evidence_dir=evidence_dir,
        secret_key=SECRET,
        service_key_file=service_key_file(evidence_dir.parent),
        accept_changed_settings=True,  # the tests share one database (service.replica_settings)
        migrate_on_start=False,
        sweep_interval_s=0,
        **overrides,
    )
    app = create_app(settings)
    port = free_port()
    state: AppState = app.state.nce
    try:
        with serving_config(
            server_config(app, settings, host="127.0.0.1", port=port, log_level="warning")
        ) as url:
            yield Running(url, port, state)
    finally:
        state.engine.dispose()


@contextmanager
def nce_serve(db_url: str, evidence_dir: Path, **env: str) -> Iterator[NceServe]:
    """``nce serve`` in a subprocess on a free port: its own memory (RSS) and its own interpreter (no
    GIL shared with the test's clients); ``env`` adds ``NCE_*`` settings. Stopped with SIGTERM."""
    log = evidence_dir.parent / "nce-serve.log"
    with NceServe(db_url=db_url, evidence_dir=evidence_dir, log=log, secret=SECRET, env=env) as serve:
        yield serve


@pytest.fixture(scope="session")
def _default_server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running(db_url, tmp_path_factory.mktemp("ev"), **POLICY) as svc:
        yield svc


@pytest.fixture
def svc(_default_server: Running) -> Running:
    """The default server (not demo: Secure cookies, no /docs), its sign-in counters emptied."""
    _default_server.reset_throttle()
    return _default_server


class Browser:
    """A client that keeps cookies the way a browser does on http://127.0.0.1 (a secure context):
    Secure ones too, which httpx would not send back over plain HTTP."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers or {}, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        r = self.http.request(method, path, headers=headers, follow_redirects=False, **kwargs)
        for raw in r.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(raw).items():
                if morsel["max-age"] == "0" or not morsel.value.strip('"'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return r

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def csrf(self, path: str) -> str:
        m = CSRF_RE.search(self.get(path).text)
        assert m, f"no csrf field on {path}"
        return m.group(1)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        token = self.csrf("/login")
        return self.post(
            "/login", data={"csrf": token, "username": username, "password": password, "next": "/"}
        )

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def browser(svc: Running) -> Iterator[Browser]:
    b = Browser(svc.url)
    yield b
    b.close()


@pytest.fixture
def case_svc(db_url: str, tmp_path: Path) -> Iterator[CaseService]:
    """The case service under uvicorn for the clock, deadline, public-copy and package-id attacks
    (tests/security/sec_service.py); the tests run the sweeper themselves, on the server's clock."""
    settings = Settings(
        db_url=db_url,
        evidence_dir=tmp_path / "evidence",
        secret_key=SECRET,
        service_key_file=service_key_file(tmp_path),
        accept_changed_settings=True,  # the tests share one database (service.replica_settings)
        migrate_on_start=False,
        sweep_interval_s=0,
    )
    app = create_app(settings)
    state: AppState = app.state.nce
    empty(state)
    try:
        with serving(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            yield CaseService(http, state)
    finally:
        state.engine.dispose()
