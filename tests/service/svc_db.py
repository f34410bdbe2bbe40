"""Databases for the service tests: one migrated SQLite file or one fresh PostgreSQL database (on the
real server at 127.0.0.1:5432, ``CREATE DATABASE nce_test_<random>``, dropped at the end) per test
session, emptied between tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from service.db import make_engine
from service.migrate import upgrade

PG_SERVER = os.environ.get("NCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]
TABLES = [
    "evidence_files",
    "hit_events",
    "idempotency_keys",
    "ledger",
    "auth_sessions",
    "cases",
    "shops",
    "devices",
    "users",
    "clients",
]


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def migrated_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the URL of a migrated database of ``backend`` (skips when PostgreSQL is not running)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/nce.sqlite3"
        _migrate(url)
        yield url
        return
    import psycopg

    name = f"nce_test_{secrets.token_hex(4)}"
    admin_dsn = PG_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/test"
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {admin_dsn}: {exc}")
    url = f"{PG_SERVER}/{name}"
    _migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_tables(engine: Engine) -> None:
    """Delete every row and reset the ledger head (a fresh world)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE ledger_head SET seq = 0, hash = :h WHERE id = 1"), {"h": "0" * 64})
