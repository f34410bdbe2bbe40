"""The case service in-process for API tests: an app on a migrated database (SQLite or the real
PostgreSQL), its test client, and factories for the identities that call it (devices, users, case
systems)."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.crud.identities import add_client, add_device
from service.models import Base
from service.security import hash_password
from service.settings import Settings
from service.state import AppState
from tests.support.devices import DeviceHandle, new_key, pub_b64
from tests.support.servers import service_key_file
from tests.support.users import add_user

TEST_SECRET = "test-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
KEPT_TABLES = frozenset({"ledger_head", "alembic_version"})  # reset below / the schema's own
TABLES = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in KEPT_TABLES]
"""Every table of the models, children before parents (a new table is emptied without a list to keep)."""
_pw_hash: list[str] = []


def _password_hash() -> str:
    if not _pw_hash:
        _pw_hash.append(hash_password(PASSWORD))
    return _pw_hash[0]


def empty(state: AppState) -> None:
    """Empty every table and reset the ledger head (a fresh world, migrations kept)."""
    with state.engine.begin() as conn:
        if state.engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE ledger_head SET seq = 0, hash = :h WHERE id = 1"), {"h": "0" * 64})


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
        empty(self.state)
        shutil.rmtree(self.evidence_dir, ignore_errors=True)
        self.state.store.tmp.mkdir(parents=True, exist_ok=True)

    def device(self, device_id: str | None = None) -> DeviceHandle:
        device_id = device_id or f"edge-{secrets.token_hex(8)}"  # thousands per fuzz run: no collisions
        key = new_key()
        with self.session() as s:
            token = add_device(s, device_id=device_id, public_key=pub_b64(key), actor="test")
        return DeviceHandle(device_id, key, token)

    def user(self, role: str, username: str | None = None) -> dict[str, str]:
        """Bearer headers of a new user (password hash precomputed: Argon2 is slow on purpose)."""
        username = username or f"{role}-{secrets.token_hex(8)}"
        token = add_user(self.state.sessions, role=role, username=username, password_hash=_password_hash())
        return {"Authorization": f"Bearer {token}"}

    def case_system(self, name: str | None = None) -> dict[str, str]:
        with self.session() as s:
            token = add_client(s, name=name or f"ecase-{secrets.token_hex(8)}", actor="test")
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
        service_key_file=service_key_file(evidence_dir.parent),
        migrate_on_start=False,
        sweep_interval_s=0,
        fleet_sweep_s=0,  # tests call service.fleet.sweep themselves
        outbound_interval_s=0,  # tests run the outbox worker themselves (service.outbox.worker)
        max_request_bytes=2 * 1024 * 1024,
        cookie_secure=False,  # the test client speaks plain HTTP
        # one database serves the session's tests, each with its own service key: each app records its
        # settings as the agreed ones (service.replica_settings; tests/service/test_svc_replicas.py checks the refusal)
        accept_changed_settings=True,
    )
