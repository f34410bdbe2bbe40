"""Fixtures for the console: a fresh SQLite service per test (copied from one migrated template), seeded
through the real ingest API with signed packages of real JPEGs and an H.264 clip."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent.parent / "service"))

from console_factory import Spec, deliver
from svc_factory import DeviceHandle, new_key, pub_b64, service_key_file

from service.app import create_app
from service.crud.identities import add_client, add_device
from service.db import make_engine
from service.migrate import upgrade
from service.models import AuthSession, Shop, User
from service.security import hash_password, new_token, token_hash
from service.settings import Settings
from service.state import AppState

SECRET = "console-test-secret-0123456789"
PASSWORD = "operator password 1"
OPERATOR = "op1"

# the seeded world, oldest first: the last one is the newest draft
SPECS: dict[str, Spec] = {
    "prior": Spec("piled_goods", "cam-01", "S-0001", 0),
    "garbage": Spec("exposed_garbage", "cam-03", None, 10, zone_kind="sidewalk", label="garbage"),
    "ad": Spec("illegal_ad", "cam-02", "S-0002", 20, zone_kind="no_ads", label="banner"),
    "vending": Spec("street_vending", "cam-02", None, 30, zone_kind="sidewalk", label="umbrella"),
    "newest": Spec("out_of_shop_trading", "cam-01", "S-0001", 40),
}


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


@dataclass
class World:
    app: Any
    state: AppState
    dir: Path
    device: DeviceHandle
    cases: dict[str, int] = field(default_factory=dict)

    def session(self) -> Any:
        return self.state.sessions()

    def user(self, role: str, username: str, password_hash: str) -> str:
        """Add a user; return a bearer token of a session of theirs."""
        token = new_token("user")
        with self.session() as s:
            user = User(username=username, role=role, password_hash=password_hash)
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
        return token

    def case_system_token(self) -> str:
        with self.session() as s:
            return add_client(s, name=f"ecase-{secrets.token_hex(3)}")

    def count(self, table: str) -> int:
        from sqlalchemy import text

        with self.state.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


Client = tuple[World, TestClient]


def make_world(base: Path, template: Path | None, password_hash: str, db_url: str | None = None) -> World:
    """A service on a copy of the migrated SQLite ``template`` (or on ``db_url``, migrated already)."""
    base.mkdir(parents=True, exist_ok=True)
    if db_url is None:
        assert template is not None
        db = base / "nce.sqlite3"
        shutil.copyfile(template, db)
        db_url = f"sqlite:///{db}"
    settings = Settings(
        db_url=db_url,
        evidence_dir=base / "evidence",
        secret_key=SECRET,
        service_key_file=service_key_file(base),
        migrate_on_start=False,
        sweep_interval_s=0,
    )
    app = create_app(settings)
    state: AppState = app.state.nce
    key = new_key()
    with state.sessions() as s:
        token = add_device(s, device_id="edge-01", public_key=pub_b64(key))
        s.add(Shop(shop_id="S-0001", name="老王水果店", code="310113-0001", address="宝山区友谊路 88 号"))
        s.add(Shop(shop_id="S-0002", name="好运便利店", code="310113-0002", address="宝山区友谊路 92 号"))
        s.commit()
    world = World(app, state, base, DeviceHandle("edge-01", key, token))
    world.user("operator", OPERATOR, password_hash)
    return world


def seed(world: World, client: Any, names: list[str] | None = None) -> None:
    """Deliver the packages through the API; 'prior' is confirmed (the shop's history)."""
    for name in names or list(SPECS):
        body = deliver(client, world.device, SPECS[name], tag=name)
        world.cases[name] = int(body["case_id"])
    if "prior" in world.cases:
        from service.auth import Principal
        from service.crud.cases import review_case
        from service.schemas.cases import ReviewIn

        with world.session() as s:
            review_case(
                s,
                principal=Principal("user", "supervisor1", "supervisor"),
                case_id=world.cases["prior"],
                data=ReviewIn(decision="confirm"),
            )


@pytest.fixture
def world(tmp_path: Path, template_db: Path, password_hash: str) -> Iterator[tuple[World, TestClient]]:
    w = make_world(tmp_path / "svc", template_db, password_hash)
    with TestClient(w.app) as client:
        seed(w, client, ["prior", "ad", "newest"])
        yield w, client


@pytest.fixture
def pg_world(tmp_path: Path, password_hash: str) -> Iterator[tuple[World, TestClient]]:
    """The same world on the real PostgreSQL (skipped when none answers on 127.0.0.1:5432)."""
    import psycopg

    server = os.environ.get("NCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
    admin = server.replace("postgresql+psycopg://", "postgresql://") + "/test"
    name = f"nce_console_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {admin}: {exc}")
    url = f"{server}/{name}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        w = make_world(tmp_path / "svc", None, password_hash, db_url=url)
        with TestClient(w.app) as client:
            seed(w, client, ["prior", "ad", "newest"])
            yield w, client
        w.state.engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no csrf field on the page"
    return m.group(1)


def sign_in(client: TestClient, username: str = OPERATOR, password: str = PASSWORD) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
