"""``nce admin``, ``nce db``, settings refusing the default secret."""

from __future__ import annotations

import io
import sys

import pytest

from nce.cli import main as nce_main
from service.settings import Settings
from tests.support.devices import new_key, pub_b64
from tests.support.servers import service_key_file


def test_admin_commands_bootstrap_identities(api, tmp_path, capsys, monkeypatch):
    key = new_key()
    pub = tmp_path / "edge-9.pub"
    pub.write_bytes(pub_b64(key))
    assert (
        nce_main(["admin", "add-device", "--db", api.url, "--device-id", "edge-9", "--pubkey", str(pub)]) == 0
    )
    token = capsys.readouterr().out.strip()
    assert token.startswith("nced_")
    assert (
        api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["role"]
        == "device"
    )
    # enrolling twice is one line on stderr, exit 2
    assert (
        nce_main(["admin", "add-device", "--db", api.url, "--device-id", "edge-9", "--pubkey", str(pub)]) == 2
    )
    assert "already enrolled" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-passw0rd\n"))
    assert (
        nce_main(
            [
                "admin",
                "add-user",
                "--db",
                api.url,
                "--username",
                "bob",
                "--role",
                "supervisor",
                "--password-stdin",
            ]
        )
        == 0
    )
    r = api.client.post("/api/v1/auth/login", json={"username": "bob", "password": "s3cret-passw0rd"})
    assert r.status_code == 200 and r.json()["principal"]["role"] == "supervisor"
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert (
        nce_main(
            ["admin", "add-user", "--db", api.url, "--username", "eve", "--role", "admin", "--password-stdin"]
        )
        == 2
    )
    capsys.readouterr()
    assert nce_main(["admin", "add-client", "--db", api.url, "--name", "ecase"]) == 0
    client_token = capsys.readouterr().out.strip()
    assert (
        api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {client_token}"}).json()["role"]
        == "case_system"
    )
    bad = tmp_path / "bad.pub"
    bad.write_bytes(b"not a key")
    assert (
        nce_main(["admin", "add-device", "--db", api.url, "--device-id", "edge-x", "--pubkey", str(bad)]) == 2
    )


@pytest.mark.usefixtures("db_url")
def test_db_upgrade_on_a_fresh_sqlite_file(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/fresh.sqlite3"
    assert nce_main(["db", "current", "--db", url]) == 0
    assert "empty" in capsys.readouterr().out
    assert nce_main(["db", "upgrade", "--db", url]) == 0
    from alembic.script import ScriptDirectory

    from service.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert f"revision {head}" in capsys.readouterr().out  # the newest migration
    assert nce_main(["ledger", "verify", "--db", url]) == 0


def test_settings_refuse_the_default_secret_outside_demo(tmp_path, monkeypatch):
    from service.errors import ServiceError

    monkeypatch.delenv("NCE_SECRET_KEY", raising=False)
    monkeypatch.setenv("NCE_SERVICE_KEY_FILE", str(service_key_file(tmp_path)))
    with pytest.raises(ServiceError, match="default demo secret"):
        Settings.load(db_url=f"sqlite:///{tmp_path}/x.sqlite3")
    assert Settings.load(db_url=f"sqlite:///{tmp_path}/x.sqlite3", demo=True).demo is True
    monkeypatch.setenv("NCE_SECRET_KEY", "a-real-secret-from-the-environment")
    monkeypatch.setenv("NCE_SERVICE_KEY_FILE", str(service_key_file(tmp_path)))
    assert Settings.load().secret_key == "a-real-secret-from-the-environment"
    with pytest.raises(ServiceError, match="db_url"):
        Settings.load(db_url="mysql://x")
    assert "secret" not in repr(Settings.load())


def test_nce_serve_starts_migrates_and_answers(db_url, tmp_path):
    """The real command in a subprocess: migrations on start, /healthz, /metrics, then SIGTERM."""
    import signal

    import httpx

    from tests.support.servers import NceServe

    url = db_url if db_url.startswith("postgresql") else f"sqlite:///{tmp_path}/serve.sqlite3"
    serve = NceServe(db_url=url, evidence_dir=tmp_path / "ev", log=tmp_path / "serve.log")
    try:
        serve.start()
        r = httpx.get(f"{serve.url}/healthz", timeout=2)
        assert r.json() == {"status": "ok", "db": "ok"}
        metrics = httpx.get(f"{serve.url}/metrics").text
        assert "nce_ledger_entries" in metrics
        assert httpx.get(f"{serve.url}/openapi.json").json()["info"]["title"] == "NCE case service"
        assert (tmp_path / "ev" / "tmp").is_dir()
    finally:
        code = serve.stop()
    out = serve.output()
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert code in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out
    assert serve.url in out


def test_nce_serve_refuses_the_default_secret(tmp_path):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "NCE_SECRET_KEY"}
    r = subprocess.run(
        [sys.executable, "-m", "nce", "serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/x.sqlite3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "default demo secret" in r.stderr
    # it names how to make a secret, and the demo mode
    assert "secrets.token_urlsafe(32)" in r.stderr and "pass --demo" in r.stderr


def test_unreachable_database_is_503_not_500(tmp_path):
    from fastapi.testclient import TestClient

    from service.app import create_app

    settings = Settings(
        db_url="postgresql+psycopg://postgres@127.0.0.1:1/nce_nowhere?connect_timeout=2",
        evidence_dir=tmp_path / "ev",
        secret_key="test-secret-0123456789abcdef",
        service_key_file=service_key_file(tmp_path),
        accept_changed_settings=True,  # the tests share one database (service.replica_settings)
        migrate_on_start=False,
        sweep_interval_s=0,
    )
    with TestClient(create_app(settings)) as client:
        r = client.get("/api/v1/cases", headers={"Authorization": "Bearer nceu_x"})
        assert r.status_code == 503 and "database unavailable" in r.json()["detail"]
        assert r.headers["retry-after"] == "5"
        assert client.get("/healthz").status_code == 503


def test_migrations_match_the_models(db_url):
    """Alembic's autogenerate finds nothing to add: the migrations are the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from service.db import make_engine
    from service.models import Base

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
    finally:
        engine.dispose()
    assert diff == []


def test_a_disabled_device_and_an_old_token_are_refused_at_once(api, tmp_path, capsys):
    """A stolen edge box: disable it (its token and packages are refused, nothing of it is lost), then
    enable it with a new token (the old one stays dead)."""
    edge = api.device("edge-stolen")
    assert edge.post(api.client, edge.package()).status_code in (200, 201)
    assert nce_main(["admin", "disable-device", "--db", api.url, "--device-id", "edge-stolen"]) == 0
    assert "disabled" in capsys.readouterr().err
    second = edge.package()
    refused = edge.post(api.client, second)
    assert refused.status_code == 401, refused.text
    assert api.client.get("/api/v1/auth/me", headers=edge.headers).status_code == 401
    # the same again changes nothing and says so
    assert nce_main(["admin", "disable-device", "--db", api.url, "--device-id", "edge-stolen"]) == 0
    assert "already was" in capsys.readouterr().err

    token_file = tmp_path / "edge.token"
    args = ["--db", api.url, "--device-id", "edge-stolen"]
    assert nce_main(["admin", "new-device-token", *args, "--token-out", str(token_file)]) == 0
    new = capsys.readouterr().out.strip()
    assert new.startswith("nced_") and token_file.read_text().strip() == new
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert nce_main(["admin", "enable-device", *args]) == 0
    assert api.client.get("/api/v1/auth/me", headers=edge.headers).status_code == 401, "the old token"
    edge.token = new
    again = edge.post(api.client, second)
    assert again.status_code in (200, 201), again.text
    assert second.manifest.sequence == 2, "the refused package goes in with its own place in the chain"


@pytest.mark.parametrize("action", ["disable-device", "enable-device", "new-device-token"])
def test_device_actions_on_an_unknown_device_are_one_line(api, capsys, action):
    assert nce_main(["admin", action, "--db", api.url, "--device-id", "edge-none"]) == 2
    err = capsys.readouterr().err
    assert "no device 'edge-none' is enrolled" in err and "Traceback" not in err
