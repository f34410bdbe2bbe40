"""Case-service ingest: hits/s and latency p50/p99 for 1, 8 and 32 concurrent devices, ~1 MB packages,
SQLite (WAL) vs PostgreSQL.

A real ``nce serve`` in a subprocess; the devices are threads with their own HTTP connection, each
delivering its signed packages in sequence (as the edge relay does). Every package: five stills
(~40 KB each) and a ~800 KB clip, random bytes behind real magic numbers, signed with nce.manifest.
Writes results/ingest.json, results/ingest.md and the ``ingest`` section of RESULTS.md.

    python -m benchmarks.bench_ingest [--quick] [--pg postgresql+psycopg://postgres@127.0.0.1:5432]

Profiling one case: ``--backend postgresql --levels 1:60 --no-write`` (repeat --backend; --levels
devices:packages-per-device,...), ``--spy prof.txt`` records `nce serve` with py-spy (installed
separately) in its raw (collapsed-stack) format, one file per backend; with ``--spy-gil`` only the
samples that hold the GIL (where one process's Python CPU goes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.common import RESULTS, markdown_table, write_result
from benchmarks.cpu_time import command_cpu, process_cpu_s, spent
from nce.manifest import (
    GENESIS_HASH,
    CameraRef,
    EventInfo,
    FileEntry,
    Manifest,
    SiteRef,
    SoftwareRef,
    ZoneRef,
    generate_private_key,
    manifest_hash,
    public_key_b64,
    save_private_key,
    sha256_hex,
    sign_manifest,
    utc_ms,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"
T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)


def make_packages(device_id: str, key: Ed25519PrivateKey, count: int, shop: str) -> list[list[Any]]:
    """``count`` signed packages (multipart part lists) in chain order."""
    out = []
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        files = {f"still-{i}.jpg": ("still_raw", "image/jpeg", JPEG + os.urandom(40_000)) for i in range(5)}
        files["clip.mp4"] = ("clip", "video/mp4", MP4 + os.urandom(800_000))
        ts = utc_ms(T0 + dt.timedelta(minutes=seq))
        m = Manifest(
            package_id=f"{device_id}-{seq:08d}",
            kind="violation",
            device_id=device_id,
            sequence=seq,
            prev_manifest_hash=prev,
            created_at=ts,
            site=SiteRef(id="bench", name="bench", timezone="Asia/Shanghai"),
            camera=CameraRef(id=f"cam-{device_id}", name="cam", location=None),
            zone=ZoneRef(
                id="z1", kind="shop_frontage", name=None, polygon=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9)]
            ),
            shop_id=shop,
            violation="out_of_shop_trading",
            rule=None,
            event=EventInfo(
                hit_id=f"{device_id}-hit-{seq}",
                event="confirmed",
                ts=ts,
                first_seen=ts,
                confirmed_at=ts,
                last_seen=ts,
                cleared_at=None,
                dwell_s=300.0,
                sightings=10,
                track_id=1,
                label="stall",
                score=0.9,
                box=(1.0, 2.0, 3.0, 4.0),
            ),
            stills=[],
            model=None,
            software=SoftwareRef(version="bench"),
            detections=[],
            track=[],
            ocr=None,
            notes=[],
            derived_from=None,
            files=[
                FileEntry(name=n, role=r, sha256=sha256_hex(d), size=len(d), mime=mt)  # type: ignore[arg-type]
                for n, (r, mt, d) in files.items()
            ],
            signature=None,
        )
        m = sign_manifest(m, key)
        prev = manifest_hash(m)
        parts: list[Any] = [("manifest", ("manifest.json", m.to_json_bytes(), "application/json"))]
        parts += [(n, (n, d, mt)) for n, (_r, mt, d) in files.items()]
        out.append(parts)
    return out


def _pctl(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def enroll(url: str, devices: int) -> list[tuple[str, Ed25519PrivateKey, str]]:
    from service.crud.identities import add_device
    from service.db import make_engine, make_sessionmaker
    from service.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    out = []
    with make_sessionmaker(engine)() as s:
        for i in range(devices):
            key = Ed25519PrivateKey.generate()
            device_id = f"bench-{i:02d}-{secrets.token_hex(2)}"
            token = add_device(
                s, device_id=device_id, public_key=public_key_b64(key.public_key()).encode(), actor="bench"
            )
            out.append((device_id, key, token))
    engine.dispose()
    return out


def run_level(base: str, url: str, devices: int, per_device: int, service_pid: int) -> dict[str, Any]:
    enrolled = enroll(url, devices)
    plans = [
        (token, device_id, make_packages(device_id, key, per_device, f"shop-{i % 4}"))
        for i, (device_id, key, token) in enumerate(enrolled)
    ]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(devices + 1)

    def device(token: str, device_id: str, packages: list[list[Any]]) -> None:
        with httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
            start_gate.wait()
            for seq, parts in enumerate(packages, 1):
                t = time.perf_counter()
                r = http.post("/api/v1/hits", files=parts, headers={"Idempotency-Key": f"{device_id}:{seq}"})
                dt_s = time.perf_counter() - t
                with lock:
                    latencies.append(dt_s)
                    if r.status_code != 201:
                        errors.append(f"{r.status_code} {r.text[:120]}")

    threads = [threading.Thread(target=device, args=p) for p in plans]
    for th in threads:
        th.start()
    cpu0 = (process_cpu_s(service_pid), time.process_time())
    pg0 = command_cpu("postgres")
    start_gate.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    cpu1 = (process_cpu_s(service_pid), time.process_time())
    n = len(latencies)
    service_ms, client_ms = (1000 * (b - a) / max(1, n) for a, b in zip(cpu0, cpu1, strict=True))
    pg_ms = 1000 * spent(pg0, command_cpu("postgres")) / max(1, n)
    return {
        "devices": devices,
        "packages": n,
        "errors": len(errors),
        "first_errors": errors[:3],
        "package_mb": round(sum(len(p[1][1]) for p in plans[0][2][0]) / 1e6, 3),
        "wall_s": round(wall, 3),
        "hits_per_s": round(n / wall, 2),
        "mb_per_s": round(n * sum(len(p[1][1]) for p in plans[0][2][0]) / 1e6 / wall, 2),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(_pctl(latencies, 0.99) * 1000, 1),
        # CPU per accepted package: the service, PostgreSQL (all its processes; 0 for SQLite) and the
        # device threads; what the machine's cores allow at best = cores / the sum
        "cpu_ms": {
            "service": round(service_ms, 1),
            "postgres": round(pg_ms, 1),
            "devices": round(client_ms, 1),
        },
        "ceiling_hits_per_s": round(
            1000 * (os.cpu_count() or 1) / max(1e-9, service_ms + pg_ms + client_ms), 1
        ),
    }


def serve(url: str, evidence: Path, port: int) -> subprocess.Popen[str]:
    service_key = evidence.parent / "service.key"  # signs the transparency log's checkpoints
    if not service_key.exists():
        save_private_key(generate_private_key(), service_key)
    env = {
        **os.environ,
        "NCE_SECRET_KEY": "bench-secret-" + secrets.token_hex(8),
        "NCE_SERVICE_KEY_FILE": str(service_key),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nce",
            "serve",
            "--port",
            str(port),
            "--db",
            url,
            "--evidence-dir",
            str(evidence),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError(proc.communicate()[1]) from None
            time.sleep(0.2)
    raise RuntimeError("nce serve did not start")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer packages per level")
    ap.add_argument(
        "--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument(
        "--backend", choices=["sqlite", "postgresql"], action="append", help="only these (repeat)"
    )
    ap.add_argument(
        "--levels",
        default=None,
        help="devices:packages-per-device,... (default 1:30,8:8,32:4; --quick 1:10,8:3,32:2)",
    )
    ap.add_argument("--spy", type=Path, default=None, help="py-spy raw profile of `nce serve` into this file")
    ap.add_argument(
        "--spy-gil", action="store_true", help="with --spy: only samples holding the GIL (its CPU in Python)"
    )
    ap.add_argument("--no-write", action="store_true", help="print only (profiling runs)")
    args = ap.parse_args(argv)
    levels = [(1, 10), (8, 3), (32, 2)] if args.quick else [(1, 30), (8, 8), (32, 4)]
    if args.levels:
        levels = [(int(d), int(n)) for d, n in (x.split(":") for x in args.levels.split(","))]
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    backends = args.backend or ["sqlite"] + ([] if args.no_pg else ["postgresql"])
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="nce-bench-") as tmp_s:
            tmp = Path(tmp_s)
            dbname = None
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/bench.sqlite3"
            else:
                import psycopg

                dbname = f"nce_bench_{secrets.token_hex(4)}"
                admin = args.pg.replace("postgresql+psycopg://", "postgresql://") + "/test"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{dbname}"')
                url = f"{args.pg}/{dbname}"
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            enroll(url, 0)  # migrate before the server starts
            proc = serve(url, tmp / "evidence", port)
            spy = None
            if args.spy:
                out = args.spy.with_name(f"{args.spy.stem}-{backend}{args.spy.suffix}")
                spy = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), "record", "-r", "100", "--format", "raw", "-o", str(out),
                     "--pid", str(proc.pid), *(["--gil"] if args.spy_gil else [])],
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(1)
            try:
                for devices, per_device in levels:
                    r = run_level(f"http://127.0.0.1:{port}", url, devices, per_device, proc.pid)
                    r["backend"] = backend
                    rows.append(r)
                    print(
                        f"{backend:10s} devices={devices:2d} packages={r['packages']:3d} "
                        f"{r['hits_per_s']:6.1f} hits/s  {r['mb_per_s']:6.1f} MB/s  "
                        f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  errors {r['errors']}  CPU ms/pkg {r['cpu_ms']}",
                        flush=True,
                    )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
                if spy is not None:
                    spy.wait(timeout=60)  # py-spy writes its file when the process ends
                if dbname:
                    import psycopg

                    with psycopg.connect(admin, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    if args.no_write:
        return 0 if all(r["errors"] == 0 for r in rows) else 1
    table = [
        {
            "backend": r["backend"],
            "devices": r["devices"],
            "packages": r["packages"],
            "MB/package": r["package_mb"],
            "hits/s": r["hits_per_s"],
            "MB/s": r["mb_per_s"],
            "p50 ms": r["p50_ms"],
            "p99 ms": r["p99_ms"],
            "errors": r["errors"],
            "CPU ms/pkg service": r["cpu_ms"]["service"],
            "CPU ms/pkg PostgreSQL": r["cpu_ms"]["postgres"],
            "CPU ms/pkg devices": r["cpu_ms"]["devices"],
            "ceiling hits/s": r["ceiling_hits_per_s"],
        }
        for r in rows
    ]
    notes = (
        "`nce serve` (one uvicorn process) and the device threads share the machine's cores. Each request "
        "is checked in full (Ed25519, SHA-256 of every file, magic bytes, hash chain), staged with fsync, "
        "moved into the content-addressed store and committed with its ledger entry; ingest is serialised "
        "on the ledger head (its lock now held only for the ledger rows and the COMMIT). *CPU ms/pkg*: CPU "
        "seconds per accepted package, read from /proc: the `nce serve` process, every `postgres` process "
        "(0 with SQLite) and this process's device threads; *ceiling* = cores x 1000 / their sum, the most "
        "packages a second these cores could take with nothing else running, whatever the locks."
    )
    load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    notes += (
        f" Load average (1, 5, 15 min) before {load['before']}, after {load['after']} on "
        f"{os.cpu_count()} cores: other work shared the machine, so compare rows of one run, not runs."
    )
    write_result("ingest", {"levels": rows, "quick": args.quick, "loadavg": load}, table, notes)
    (RESULTS / "ingest.md").write_text(
        "# Ingest benchmark\n\n" + markdown_table(table) + "\n" + notes + "\n", encoding="utf-8"
    )
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
