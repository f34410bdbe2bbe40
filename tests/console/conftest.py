"""Fixtures for the console: a fresh SQLite service per test (copied from one migrated template), seeded
through the real ingest API with signed packages of real JPEGs and an H.264 clip
(:mod:`tests.support.console` builds the world)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from service.db import make_engine
from service.migrate import upgrade
from service.security import hash_password
from tests.support.chromium import launched
from tests.support.console import PASSWORD, World, make_world, seed
from tests.support.postgres import migrated_database


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "nce.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)  # Argon2id is slow on purpose: once per run


@pytest.fixture
def world(tmp_path: Path, template_db: Path, password_hash: str) -> Iterator[tuple[World, TestClient]]:
    w = make_world(tmp_path / "svc", template_db, password_hash)
    with TestClient(w.app) as client:
        seed(w, client, ["prior", "ad", "newest"])
        yield w, client


@pytest.fixture
def pg_world(tmp_path: Path, password_hash: str) -> Iterator[tuple[World, TestClient]]:
    """The same world on the real PostgreSQL (a real part: see tests.support.postgres)."""
    with migrated_database("nce_console") as url:
        w = make_world(tmp_path / "svc", None, password_hash, db_url=url)
        with TestClient(w.app) as client:
            seed(w, client, ["prior", "ad", "newest"])
            yield w, client
        w.state.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (:mod:`tests.support.chromium`)."""
    with launched() as b:
        yield b
