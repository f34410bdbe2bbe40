"""Fixtures: every test here runs against SQLite and against the real PostgreSQL on 127.0.0.1:5432.

Each backend gets a fresh database for the session (PostgreSQL: ``CREATE DATABASE nce_test_<random>``,
dropped at the end), migrated once with Alembic; each test starts from empty tables. The app and its
identity factories are :mod:`tests.support.service_api`'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.db import make_engine, writer_lock_held
from service.migrate import upgrade
from service.state import AppState
from tests.support.postgres import migrated_database
from tests.support.s3_server import S3Server, S3ServerError, seaweedfs
from tests.support.service_api import Api, empty, make_settings


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/nce.sqlite3"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    with migrated_database("nce_test") as url:
        yield url


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    evidence = tmp_path / "evidence"
    app = create_app(make_settings(db_url, evidence))
    state: AppState = app.state.nce
    empty(state)
    # a loopback client, like Prometheus on the same host (/metrics answers loopback callers)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield Api(client, state, db_url, evidence)
    # every write transaction, accepted or refused, gave the SQLite writer lock back
    assert not writer_lock_held(state.engine)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS) for the whole session, with one bucket."""
    try:
        with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
            yield server
    except S3ServerError as exc:  # fails under CI=true (tests.support.real_parts)
        pytest.skip(f"no S3 server: {exc}")


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The AWS_* variables and NCE_S3_ENDPOINT of ``s3_server`` set for the test."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture(params=["local", "s3"])
def store_api(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app with its evidence in a local folder, and with it in the S3 server (a fresh prefix)."""
    if request.param == "local":
        yield request.getfixturevalue("api")
        return
    server: S3Server = request.getfixturevalue("s3_env")
    evidence = tmp_path / "evidence"
    settings = make_settings(db_url, evidence).model_copy(
        update={"evidence_url": server.url(f"t-{secrets.token_hex(6)}"), "s3_endpoint": server.endpoint}
    )
    app = create_app(settings)
    state: AppState = app.state.nce
    empty(state)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield Api(client, state, db_url, evidence)
    assert not writer_lock_held(state.engine)
