"""Fixtures for the attack tests: the real case service under uvicorn (real HTTP, a real socket) on
SQLite and on the real PostgreSQL (tests/service/svc_db.py), one fresh world per test.

Every attack in this package is a row of a table: what the attacker sends, what the service must
answer, and what must (not) have changed. The helpers are in sec_service.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "service"))
sys.path.insert(0, str(Path(__file__).parent))

from sec_service import SECRET, Service
from svc_db import BACKENDS, empty_tables, migrated_database
from svc_server import serving

from service.app import create_app
from service.settings import Settings
from service.state import AppState


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory)


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Service]:
    settings = Settings(
        db_url=db_url,
        evidence_dir=tmp_path / "evidence",
        secret_key=SECRET,
        migrate_on_start=False,
        sweep_interval_s=0,  # the tests run the sweeper themselves, on the server's clock
    )
    app = create_app(settings)
    state: AppState = app.state.nce
    empty_tables(state.engine)
    try:
        with serving(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            yield Service(http, state)
    finally:
        state.engine.dispose()
