"""The real PostgreSQL of the tests (``NCE_TEST_PG``, default 127.0.0.1:5432, trust auth, database
``test``): a fresh database per use, migrated with Alembic, dropped afterwards.

PostgreSQL is a real part: where none answers, the test is skipped on a workstation and fails under
CI (see :mod:`tests.support.real_parts`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from service.db import make_engine
from service.migrate import upgrade

PG_SERVER = os.environ.get("NCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


@contextmanager
def migrated_database(prefix: str) -> Iterator[str]:
    """A new database ``<prefix>_<random>`` at the current Alembic head; its SQLAlchemy URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = PG_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/test"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {admin}: {exc}")
    url = f"{PG_SERVER}/{name}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
