"""Fixtures: every test here runs against SQLite and against the real PostgreSQL on 127.0.0.1:5432.

Each backend gets a fresh database for the session (PostgreSQL: ``CREATE DATABASE nce_test_<random>``,
dropped at the end), migrated once with Alembic; each test starts from empty tables.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))

from svc_db import BACKENDS, empty_tables, migrated_database
from svc_factory import DeviceHandle, new_key, pub_b64

from service.app import create_app
from service.crud.identities import add_client, add_device
from service.db import writer_lock_held
from service.models import AuthSession, User
from service.security import hash_password, new_token, token_hash
from service.settings import Settings
from service.state import AppState

TEST_SECRET = "test-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
_pw_hash: list[str] = []


def _password_hash() -> str:
    if not _pw_hash:
        _pw_hash.append(hash_password(PASSWORD))
    return _pw_hash[0]


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory)


def _empty(state: AppState) -> None:
    empty_tables(state.engine)


@dataclass
class Api:
    client: TestClient
    state: AppState
    url: str
    evidence_dir: Path

    def session(self) -> Session:
        return self.state.sessions()

    def reset(self) -> None:
        """Empty every table and the evidence store (a fresh world inside one test)."""
        _empty(self.state)
        import shutil

        shutil.rmtree(self.evidence_dir, ignore_errors=True)
        self.state.store.tmp.mkdir(parents=True, exist_ok=True)

    def device(self, device_id: str | None = None) -> DeviceHandle:
        device_id = device_id or f"edge-{secrets.token_hex(3)}"
        key = new_key()
        with self.session() as s:
            token = add_device(s, device_id=device_id, public_key=pub_b64(key))
        return DeviceHandle(device_id, key, token)

    def user(self, role: str, username: str | None = None) -> dict[str, str]:
        """Bearer headers of a new user (password hash precomputed: Argon2 is slow on purpose)."""
        username = username or f"{role}-{secrets.token_hex(3)}"
        token = new_token("user")
        with self.session() as s:
            user = User(username=username, role=role, password_hash=_password_hash())
            s.add(user)
            s.flush()
            s.add(
                AuthSession(
                    user_id=user.id,
                    token_hash=token_hash(token),
                    expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                )
            )
            s.commit()
        return {"Authorization": f"Bearer {token}"}

    def case_system(self, name: str | None = None) -> dict[str, str]:
        with self.session() as s:
            token = add_client(s, name=name or f"ecase-{secrets.token_hex(3)}")
        return {"Authorization": f"Bearer {token}"}

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        if role == "device":
            return self.device().headers
        if role == "case_system":
            return self.case_system()
        return self.user(role)

    def count(self, table: str) -> int:
        with self.state.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())

    def stored_files(self) -> int:
        return self.state.store.count() + self.state.store.staged_count()


def make_settings(url: str, evidence_dir: Path) -> Settings:
    return Settings(
        db_url=url,
        evidence_dir=evidence_dir,
        secret_key=TEST_SECRET,
        migrate_on_start=False,
        sweep_interval_s=0,
        max_request_bytes=2 * 1024 * 1024,
    )


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    evidence = tmp_path / "evidence"
    app = create_app(make_settings(db_url, evidence))
    state: AppState = app.state.nce
    _empty(state)
    with TestClient(app) as client:
        yield Api(client, state, db_url, evidence)
    # every write transaction, accepted or refused, gave the SQLite writer lock back
    assert not writer_lock_held(state.engine)
