"""Replicas of ``nce serve`` on one PostgreSQL database: one leader runs the periodic jobs and
another takes over when it goes; settings that must agree are checked at start; a replica killed
mid-delivery loses and duplicates nothing (real PostgreSQL, real ``nce serve`` processes, real
outboxes delivering through a round-robin balancer)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from nce.manifest import generate_private_key, save_private_key, save_public_key
from service.app import create_app
from service.db import make_engine
from service.leader import Leadership
from service.settings import Settings, SettingsError
from tests.support.cli import nce
from tests.support.postgres import migrated_database
from tests.support.replicas import (
    Balancer,
    Cluster,
    audit,
    make_edges,
    metric,
    start_delivery,
    wait_delivered,
)
from tests.support.s3_server import S3Server
from tests.support.servers import SERVE_SECRET, service_key_file


@pytest.fixture
def pg_url() -> Iterator[str]:
    with migrated_database("nce_replicas") as url:
        yield url


def until(check: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_one_leader_and_another_takes_over_when_its_connection_dies(pg_url: str) -> None:
    engine = make_engine(pg_url)
    a, b = Leadership(engine), Leadership(engine)
    try:
        assert a.lead() is True
        assert b.lead() is False  # tried again every period: still the other's
        assert a.lead() is True
        with engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                )
            ).all()
        assert len(killed) == 1
        assert until(b.lead, 10)  # the lock went with the dead connection
        assert a.lead() is False  # the old leader notices and stays a follower
        assert a.leading is False and b.leading is True
        b.release()
        assert a.lead() is True
    finally:
        a.release()
        b.release()
        engine.dispose()


def test_sqlite_is_one_process_and_always_leads(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/one.sqlite3")
    assert Leadership(engine).lead() is True
    assert Leadership(engine).lead() is True
    engine.dispose()


def test_exactly_one_replica_runs_the_periodic_jobs_and_a_survivor_takes_over(
    pg_url: str, tmp_path: Path
) -> None:
    cluster = Cluster(tmp_path, pg_url, 2, NCE_FLEET_SWEEP_S="0.2", NCE_SWEEP_INTERVAL_S="0.2").start()
    try:
        urls = cluster.urls

        def runs(url: str) -> float:
            return metric(url, "nce_periodic_runs_total")

        assert until(lambda: sum(metric(u, "nce_leader") for u in urls) == 1 and max(map(runs, urls)) >= 3)
        leader = next(i for i, u in enumerate(urls) if metric(u, "nce_leader") == 1)
        follower = 1 - leader
        assert runs(urls[follower]) == 0  # the follower ran no job
        cluster.replicas[leader].kill()  # SIGKILL: its connection, and with it the lock, goes
        assert until(lambda: metric(urls[follower], "nce_leader") == 1 and runs(urls[follower]) >= 2)
    finally:
        cluster.stop()


def _settings(db_url: str, folder: Path, **changes: object) -> Settings:
    values: dict[str, object] = {
        "db_url": db_url,
        "evidence_dir": folder / "store",
        "secret_key": SERVE_SECRET,
        "service_key_file": service_key_file(folder),
        "sweep_interval_s": 0,
        "fleet_sweep_s": 0,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


def _other_key(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_private_key(generate_private_key(), folder / "other.key")
    return folder / "other.key"


def _release_key(folder: Path, name: str) -> tuple[Path, ...]:
    folder.mkdir(parents=True, exist_ok=True)
    save_public_key(generate_private_key().public_key(), folder / name)
    return (folder / name,)


@pytest.mark.parametrize(
    ("setting", "change"),
    [
        ("secret_key (NCE_SECRET_KEY)", lambda d: {"secret_key": "another-secret-0123456789"}),
        ("service_key (NCE_SERVICE_KEY_FILE)", lambda d: {"service_key_file": _other_key(d / "k")}),
        (
            "release_pubkeys (NCE_RELEASE_PUBKEYS)",
            lambda d: {"release_pubkeys": _release_key(d / "r", "b.pub")},
        ),
        ("log_origin (NCE_LOG_ORIGIN)", lambda d: {"log_origin": "another-log"}),
    ],
)
def test_a_replica_with_other_settings_refuses_to_start(
    pg_url: str, tmp_path: Path, setting: str, change: Callable[[Path], dict[str, object]]
) -> None:
    base = _settings(pg_url, tmp_path, release_pubkeys=_release_key(tmp_path / "r", "a.pub"))
    create_app(base).state.nce.engine.dispose()  # the first replica records its settings
    create_app(base).state.nce.engine.dispose()  # the same settings: starts
    other = base.model_copy(update=change(tmp_path))
    with pytest.raises(SettingsError) as refused:
        create_app(other)
    line = str(refused.value)
    assert "\n" not in line and line.startswith(setting)
    assert SERVE_SECRET not in line and "another-secret" not in line  # never the value
    # a deliberate change: the first replica with the new value records it, the old value is refused
    accepted = other.model_copy(update={"accept_changed_settings": True})
    create_app(accepted).state.nce.engine.dispose()
    create_app(other).state.nce.engine.dispose()
    with pytest.raises(SettingsError):
        create_app(base)


def test_nce_serve_with_another_secret_exits_with_one_line(pg_url: str, tmp_path: Path) -> None:
    first = Cluster(tmp_path, pg_url, 1).start()
    try:
        done = nce("serve", "--db", pg_url, "--port", "0", "--evidence-dir", str(tmp_path / "store"), env={
            "NCE_SECRET_KEY": "another-secret-0123456789",
            "NCE_SERVICE_KEY_FILE": str(service_key_file(tmp_path / "logs")),
        })  # fmt: skip
    finally:
        first.stop()
    assert done.returncode != 0
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "secret_key (NCE_SECRET_KEY)" in lines[0], done.stderr


@pytest.mark.parametrize("store", ["local", "s3"])
def test_two_replicas_lose_and_duplicate_nothing_when_one_is_killed(
    pg_url: str, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """The shared folder, or one S3 (SeaweedFS) for both replicas: every file downloads through each."""
    env: dict[str, str] = {}
    if store == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        env = {**s3.env(), "NCE_EVIDENCE_URL": s3.url(f"replicas-{tmp_path.name}")}
    cluster = Cluster(tmp_path, pg_url, 2, **env).start()
    balancer = Balancer(cluster.urls)
    engine = make_engine(pg_url)
    try:
        edges = make_edges(tmp_path, engine, balancer.url, devices=4, packages=8, size=64_000)
        for e in edges:
            start_delivery(e, 120, tmp_path / "devices" / f"{e.device.id}.log")

        def accepted() -> int:
            return sum(1 for h in balancer.hits if h.method == "POST" and h.status == 201)

        assert until(lambda: accepted() >= 8, 90)
        cluster.replicas[0].kill()  # SIGKILL mid-run: requests in flight on it fail, the edges retry
        time.sleep(1.0)
        cluster.replicas[0].start()
        codes = wait_delivered(edges, 120)
        assert codes == [0] * len(edges)
        result = audit(engine, edges, cluster.urls)
        assert result | {"stored": 32, "ledger_entries": 0} == {
            "packages": 32,
            "stored": 32,
            "lost": 0,
            "duplicated": 0,
            "broken_device_chains": 0,
            "ledger_ok": True,
            "ledger_entries": 0,
            "replay_ok": True,
            "files": 32 * 6,
            "downloads": 32 * 6 * 2,
            "bad_downloads": 0,
        }
        assert result["stored"] == 32 and result["ledger_entries"] >= 32 + 4  # enrolments and hits
    finally:
        balancer.close()
        cluster.stop()
        engine.dispose()
