"""Fixtures: every test here runs against SQLite and against the real PostgreSQL on 127.0.0.1:5432.

Each backend gets a fresh database for the session (PostgreSQL: ``CREATE DATABASE nce_test_<random>``,
dropped at the end), migrated once with Alembic; each test starts from empty tables. The app and its
identity factories are :mod:`tests.support.service_api`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.db import make_engine, writer_lock_held
from service.migrate import upgrade
from service.state import AppState
from tests.support.postgres import migrated_database
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
