"""Fleet heartbeats: what 500 devices (4 cameras each) cost the case service.

A real ``nce serve`` in a subprocess on SQLite (WAL) or PostgreSQL; the devices are enrolled, then

- *steady*: each device heartbeats once per ``--interval`` seconds (default 30, the edge's default),
  spread evenly, for one interval: the service's CPU (utime + stime of its process, from /proc) per
  heartbeat and as a share of one core, and the latency p50/p99;
- *burst*: every device at once, 32 connections, ``--rounds`` times: heartbeats/s and latency;
- with all 500 known, one ``/metrics`` scrape and one 设备 page (``/devices``, signed in) timed.

Writes results/heartbeat.json and the ``heartbeat`` section of RESULTS.md.

    python -m benchmarks.bench_heartbeat [--devices 500] [--interval 30] [--pg]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_ingest import _pctl, serve
from benchmarks.common import markdown_table, write_result
from benchmarks.cpu_time import stat_cpu_s

CAMERAS = 4


def cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    return stat_cpu_s(Path(f"/proc/{pid}/stat").read_text())


def enroll(url: str, devices: int) -> list[tuple[str, str]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from nce.manifest import public_key_b64
    from service.crud.identities import add_device
    from service.db import make_engine, make_sessionmaker
    from service.migrate import upgrade
    from service.security import hash_password
    from tests.support.users import add_user

    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    out = []
    with sessions() as s:
        for i in range(devices):
            device_id = f"hb-{i:04d}-{secrets.token_hex(2)}"
            pub = public_key_b64(Ed25519PrivateKey.generate().public_key()).encode()
            out.append((device_id, add_device(s, device_id=device_id, public_key=pub, actor="bench")))
    add_user(
        sessions, role="supervisor", username="bench-sup", password_hash=hash_password("bench-password-1")
    )
    engine.dispose()
    return out


def body(i: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "version": "0.1.0",
        "site_id": "bench-site",
        "model_sha256": "ab" * 32,
        "cameras": [
            {
                "id": f"cam-{i}-{c}",
                "state": "up",
                "since": (now - dt.timedelta(hours=1)).isoformat(),
                "fps": 5.0,
            }
            for c in range(CAMERAS)
        ],
        "outbox_depth": 0,
        "evidence_bytes": 10**9,
        "cpu_load": 1.5,
        "sent_at": now.isoformat(),
        "rtt_ms": 5.0,
    }


class Fleet:
    def __init__(self, base: str, devices: list[tuple[str, str]]) -> None:
        self.base = base
        self.devices = devices
        self.local = threading.local()

    def post(self, i: int) -> tuple[float, int]:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(base_url=self.base, timeout=60)
        token = self.devices[i][1]
        t = time.perf_counter()
        r = client.post(
            "/api/v1/devices/me/heartbeat", json=body(i), headers={"Authorization": f"Bearer {token}"}
        )
        return time.perf_counter() - t, r.status_code


def summary(latencies: list[float], errors: int) -> dict[str, Any]:
    return {
        "heartbeats": len(latencies),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(_pctl(latencies, 0.99) * 1000, 1),
    }


def steady(fleet: Fleet, pid: int, interval: float) -> dict[str, Any]:
    n = len(fleet.devices)
    gap = interval / n
    latencies: list[float] = []
    errors = 0
    c0, t0 = cpu_s(pid), time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        futures = []
        for i in range(n):
            wait = t0 + i * gap - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            futures.append(pool.submit(fleet.post, i))
        for f in futures:
            lat, status = f.result()
            latencies.append(lat)
            errors += status != 200
    wall = time.perf_counter() - t0
    cpu = cpu_s(pid) - c0
    return {
        "phase": "steady",
        **summary(latencies, errors),
        "wall_s": round(wall, 1),
        "per_s": round(n / wall, 1),
        "cpu_ms_per_heartbeat": round(cpu / n * 1000, 2),
        "cpu_core_share_pct": round(cpu / wall * 100, 1),
    }


def burst(fleet: Fleet, pid: int, rounds: int) -> dict[str, Any]:
    n = len(fleet.devices)
    c0, t0 = cpu_s(pid), time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(fleet.post, [i for _ in range(rounds) for i in range(n)]))
    wall = time.perf_counter() - t0
    cpu = cpu_s(pid) - c0
    return {
        "phase": "burst",
        **summary([r[0] for r in results], sum(r[1] != 200 for r in results)),
        "wall_s": round(wall, 1),
        "per_s": round(len(results) / wall, 1),
        "cpu_ms_per_heartbeat": round(cpu / len(results) * 1000, 2),
        "cpu_core_share_pct": round(cpu / wall * 100, 1),
    }


def pages(base: str) -> dict[str, float]:
    with httpx.Client(base_url=base, timeout=60) as c:
        t = time.perf_counter()
        metrics = c.get("/metrics")
        scrape = time.perf_counter() - t
        assert metrics.status_code == 200 and "nce_fleet_devices" in metrics.text
        login = c.get("/login")
        csrf = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        c.post(
            "/login",
            data={"csrf": csrf, "username": "bench-sup", "password": "bench-password-1", "next": "/"},
        )
        t = time.perf_counter()
        page = c.get("/devices")
        render = time.perf_counter() - t
        assert page.status_code == 200, page.status_code
    return {"metrics_scrape_ms": round(scrape * 1000, 1), "devices_page_ms": round(render * 1000, 1),
            "devices_page_kb": round(len(page.content) / 1024, 1)}  # fmt: skip


def run(
    url: str, label: str, devices: int, interval: float, rounds: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from tests.support.servers import free_port

    with tempfile.TemporaryDirectory() as tmp:
        enrolled = enroll(url, devices)
        port = free_port()
        os.environ["NCE_COOKIE_SECURE"] = "false"  # the page is fetched over plain HTTP
        proc = serve(url, Path(tmp) / "evidence", port)
        try:
            base = f"http://127.0.0.1:{port}"
            fleet = Fleet(base, enrolled)
            first = burst(fleet, proc.pid, 1)  # every device known, cameras stored
            rows = [
                {"db": label, **steady(fleet, proc.pid, interval)},
                {"db": label, **burst(fleet, proc.pid, rounds)},
            ]
            extra = {"db": label, "first_round": first, **pages(base)}
        finally:
            proc.terminate()
            proc.wait(30)
    return rows, extra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pg", action="store_true", help="also PostgreSQL (the tests' server, a fresh database)")
    args = ap.parse_args()
    rows, extras = [], []
    with tempfile.TemporaryDirectory() as tmp:
        r, e = run(f"sqlite:///{tmp}/hb.sqlite3", "sqlite", args.devices, args.interval, args.rounds)
        rows += r
        extras.append(e)
    if args.pg:
        from tests.support.postgres import migrated_database

        with migrated_database("nce_bench_hb") as url:
            r, e = run(url, "postgresql", args.devices, args.interval, args.rounds)
            rows += r
            extras.append(e)
    notes = (
        f"{args.devices} simulated devices, {CAMERAS} cameras each, heartbeats of ~1 KB to a real `nce serve`. "
        f"*steady*: each device once in {args.interval:g} s (the edge's default interval), spread evenly; "
        f"*burst*: all devices at once on 32 connections, {args.rounds} rounds. CPU is the service "
        "process's (utime + stime). "
        + "; ".join(
            f"{e['db']}: `/metrics` scrape {e['metrics_scrape_ms']} ms, the 设备 page {e['devices_page_ms']} ms "
            f"({e['devices_page_kb']} KB)"
            for e in extras
        )
        + "."
    )
    path = write_result("heartbeat", {"rows": rows, "pages": extras}, rows, notes)
    print(markdown_table(rows))
    print(notes)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
