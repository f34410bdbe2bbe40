"""The transparency log's API, its periodic checkpoints, the service key setting and the migration
that logs packages accepted before it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from nce.cli import main as nce_main
from nce.manifest import key_fingerprint
from nce.merkle import from_hex, verify_consistency
from nce.transparency import LogLeaf, SignedCheckpoint, verify_checkpoint
from service.app import create_app
from service.settings import Settings, SettingsError
from tests.support.service_api import make_settings


def _ingest(api, n: int) -> None:
    dev = api.device()
    for _ in range(n):
        assert dev.post(api.client, dev.package()).status_code == 201


def test_checkpoints_are_public_and_consistency_proofs_verify(api, capsys):
    c = api.client
    assert c.get("/api/v1/transparency/checkpoint").status_code == 404
    assert c.post("/api/v1/transparency/checkpoint").status_code == 401
    assert c.post("/api/v1/transparency/checkpoint", headers=api.user("operator")).status_code == 403
    assert c.post("/api/v1/transparency/checkpoint", headers=api.case_system()).status_code == 403
    _ingest(api, 3)
    r = c.post("/api/v1/transparency/checkpoint", headers=api.user("supervisor"))
    assert r.status_code == 201
    first = SignedCheckpoint.model_validate(r.json())
    _ingest(api, 4)
    second = SignedCheckpoint.model_validate(
        c.post("/api/v1/transparency/checkpoint", headers=api.user("admin")).json()
    )
    assert c.get("/api/v1/transparency/checkpoint").json() == second.model_dump(mode="json")  # no credentials
    key = c.get("/api/v1/transparency/key").json()
    assert key["fingerprint"] == key_fingerprint(api.state.transparency.key.public_key())
    for signed in (first, second):
        assert verify_checkpoint(signed, fingerprint=key["fingerprint"]) == key["fingerprint"]
    a, b = first.checkpoint, second.checkpoint
    # the ledger also holds the case system's registration and each device's enrolment
    assert (a.tree_size, b.tree_size) == (3, 7) and (a.ledger_seq, b.ledger_seq) == (1 + 1 + 3, 5 + 1 + 4)
    assert b.log == "nce-case-service"
    proof = c.get("/api/v1/transparency/consistency", params={"first": 3, "second": 7}).json()
    assert proof["first"] == 3 and proof["second"] == 7 and proof["proof"]
    verify_consistency(
        3, 7, from_hex(a.root_hash), from_hex(b.root_hash), [from_hex(h) for h in proof["proof"]]
    )
    for params, why in (
        ({"first": 3, "second": 8}, "beyond the log's size (7)"),
        ({"first": 5, "second": 4}, "must be at most second"),
    ):
        r = c.get("/api/v1/transparency/consistency", params=params)
        assert r.status_code == 422 and why in r.json()["detail"], r.text
    assert c.get("/api/v1/transparency/consistency", params={"first": -1, "second": 2}).status_code == 422
    # `nce ledger publish-key` prints the same key and fingerprint
    key_file = str(api.state.settings.service_key_file)
    assert nce_main(["ledger", "publish-key", "--key-file", key_file]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-----BEGIN PUBLIC KEY-----") and f"fingerprint: sha256 {key['fingerprint']}" in out


def test_the_sweeper_makes_checkpoints_only_when_the_log_grew(api):
    settings = make_settings(api.url, api.evidence_dir).model_copy(update={"checkpoint_interval_s": 0.2})

    def made() -> int:
        return api.count("transparency_checkpoints")

    def wait_for(n: int) -> None:
        until = time.monotonic() + 20
        while made() < n:
            assert time.monotonic() < until, made()
            time.sleep(0.1)

    with TestClient(create_app(settings)) as client:
        wait_for(1)  # the first one, of the empty log
        time.sleep(1.0)
        assert made() == 1  # nothing new: no new checkpoint
        _ingest(api, 2)
        until = time.monotonic() + 20
        while (size := _latest(client).checkpoint.tree_size) != 2:
            assert time.monotonic() < until, size
            time.sleep(0.1)
        assert 2 <= made() <= 3  # after the first package, maybe, and after the second
        latest = _latest(client).checkpoint
        assert latest.ledger_seq == 1 + 2 and latest.log == settings.log_origin  # the enrolment, 2 packages


def _latest(client: TestClient) -> SignedCheckpoint:
    return SignedCheckpoint.model_validate(client.get("/api/v1/transparency/checkpoint").json())


def test_settings_refuse_to_start_without_a_service_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NCE_SECRET_KEY", "a-real-secret-from-the-environment")
    monkeypatch.delenv("NCE_SERVICE_KEY_FILE", raising=False)
    with pytest.raises(SettingsError, match="NCE_SERVICE_KEY_FILE is not set"):
        Settings.load(db_url=f"sqlite:///{tmp_path}/x.sqlite3")
    settings = Settings.load(db_url=f"sqlite:///{tmp_path}/x.sqlite3", service_key_file=tmp_path / "none.key")
    with pytest.raises(SettingsError, match=r"service key \(NCE_SERVICE_KEY_FILE\): .*none.key: cannot read"):
        create_app(settings)
    # demo mode makes var/demo/service.key once and keeps it
    monkeypatch.chdir(tmp_path)
    demo = Settings.load(db_url=f"sqlite:///{tmp_path}/d.sqlite3", demo=True)
    first = create_app(demo).state.nce.transparency.key.public_key()
    again = create_app(demo).state.nce.transparency.key.public_key()
    assert key_fingerprint(first) == key_fingerprint(again)
    assert (tmp_path / "var" / "demo" / "service.key").stat().st_mode & 0o077 == 0


def test_nce_serve_refuses_to_start_without_a_service_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NCE_SERVICE_KEY_FILE"}
    env["NCE_SECRET_KEY"] = "serve-test-secret-0123456789"
    r = subprocess.run(
        [sys.executable, "-m", "nce", "serve", "--db", f"sqlite:///{tmp_path}/x.sqlite3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "NCE_SERVICE_KEY_FILE is not set" in r.stderr


@pytest.mark.usefixtures("db_url")
def test_migration_logs_the_packages_accepted_before_it(tmp_path):
    """A database from before the log: the migration appends its packages in the order they came."""
    from service.db import make_engine
    from service.migrate import upgrade

    url = f"sqlite:///{tmp_path}/old.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    settings = make_settings(url, tmp_path / "evidence")
    from service.crud.identities import add_device
    from tests.support.devices import DeviceHandle, new_key, pub_b64

    app = create_app(settings)
    with TestClient(app) as client:
        key = new_key()
        with app.state.nce.sessions() as s:
            token = add_device(s, device_id="edge-old", public_key=pub_b64(key), actor="test")
        dev = DeviceHandle("edge-old", key, token)
        hashes = []
        for _ in range(3):
            pkg = dev.package()
            assert dev.post(client, pkg).status_code == 201
            hashes.append(pkg.hash)
    upgrade(engine, "0001")  # back to before the log (its tables dropped) ...
    upgrade(engine)  # ... and forward: the migration fills them from hit_events
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT idx, leaf_hash, device_id, sequence, manifest_hash, received_at FROM transparency_leaves ORDER BY idx"
            )
        ).all()
    engine.dispose()
    assert [r.manifest_hash for r in rows] == hashes and [r.idx for r in rows] == [0, 1, 2]
    for r in rows:
        leaf = LogLeaf(
            device_id=r.device_id,
            sequence=r.sequence,
            manifest_hash=r.manifest_hash,
            received_at=r.received_at,
        )
        assert leaf.hash().hex() == r.leaf_hash and r.device_id == "edge-old"
    assert [r.sequence for r in rows] == [1, 2, 3]
