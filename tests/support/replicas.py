"""Several ``nce serve`` replicas on one PostgreSQL database and one evidence store, a round-robin
load balancer in front of them, edge devices (``nce outbox deliver`` processes with real outboxes)
delivering signed packages through it, and the audit afterwards: every package once, the ledger and
every device chain intact, every evidence file downloadable through every replica.

Used by tests/service/test_svc_replicas.py and benchmarks/bench_scaleout.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from detector.delivery.outbox import Outbox
from nce.manifest import GENESIS_HASH, manifest_hash, public_key_b64, utc_ms
from service import ledger, ledger_replay
from service.crud.identities import add_device
from tests.support.delivery import Device, edge_config, make_device
from tests.support.manifests import event_info, make_signed, write_package
from tests.support.servers import NceServe
from tests.support.users import add_user

T0 = dt.datetime(2026, 11, 26, 2, 0, 0, tzinfo=dt.UTC)
_HOP = {"host", "connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass(frozen=True)
class Hit:
    """One request the balancer passed on: when it began, how long it took, its status and path."""

    start: float
    seconds: float
    status: int
    method: str
    path: str


class Balancer:
    """A round-robin HTTP load balancer on a free loopback port. A backend that refuses the
    connection is skipped (the next one gets the request); one that fails after it got the request
    (killed mid-request) makes a 502, which the edge's outbox retries with the same Idempotency-Key."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.hits: list[Hit] = []
        self.gate = threading.Event()  # closed: every request gets 503 (Retry-After: 1)
        self.gate.set()
        self._next = itertools.count()
        self._lock = threading.Lock()
        self.client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=400))
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _proxy(self) -> None:
                started = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                status, out_headers, data = balancer.forward(self.command, self.path, headers, body)
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with balancer._lock:
                    balancer.hits.append(
                        Hit(started, time.perf_counter() - started, status, self.command, self.path)
                    )

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy

            def log_message(self, format: str, *args: Any) -> None:
                return None

        ThreadingHTTPServer.daemon_threads = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.request_queue_size = 256
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="balancer", daemon=True)
        self._thread.start()

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if not self.gate.is_set():  # not open yet (a benchmark waits for every device): come back
            return 503, [("Retry-After", "1")], b"not open yet"
        first = next(self._next)
        for i in range(len(self.backends)):
            backend = self.backends[(first + i) % len(self.backends)]
            try:
                r = self.client.request(method, backend + path, headers=headers, content=body)
            except httpx.ConnectError:
                continue  # that replica is down: the next one
            except httpx.HTTPError as exc:
                return 502, [("Content-Type", "text/plain")], f"backend failed: {exc}".encode()
            keep = [(k, v) for k, v in r.headers.items() if k.lower() not in _HOP | {"content-encoding"}]
            return r.status_code, keep, r.content
        return 503, [("Retry-After", "1")], b"no backend answers"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.client.close()


class Cluster:
    """``replicas`` × ``nce serve`` on ``db_url``, sharing ``root/store``, the secret and the service
    key (their logs are in ``root/logs``, where :func:`tests.support.servers.service_key_file` keeps
    the one key)."""

    def __init__(self, root: Path, db_url: str, replicas: int, **env: str) -> None:
        self.root = root
        self.db_url = db_url
        self.store = root / "store"
        env = {"NCE_ACCEPT_CHANGED_SETTINGS": "0", **env}
        self.replicas = [
            NceServe(db_url=db_url, evidence_dir=self.store, log=root / "logs" / f"replica-{i}.log", env=env)
            for i in range(replicas)
        ]

    def start(self) -> Cluster:
        for r in self.replicas:
            r.start()
        return self

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def stop(self) -> None:
        for r in self.replicas:
            r.stop()


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples named exactly ``name`` on ``url``/metrics (0 if none)."""
    body = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for m in re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", body, re.MULTILINE):
        total += float(m.group(1))
    return total


def histogram(url: str, name: str) -> list[tuple[float, float]]:
    """A histogram's cumulative buckets (upper bound, count) on ``url``/metrics."""
    body = httpx.get(f"{url}/metrics", timeout=10).text
    out = []
    for m in re.finditer(rf'^{re.escape(name)}_bucket{{le="([^"]+)"}} (\S+)$', body, re.MULTILINE):
        out.append((float(m.group(1)), float(m.group(2))))
    return out


# -- edge devices ---------------------------------------------------------------------------------


def package_files(seq: int, size: int) -> dict[str, tuple[str, str, bytes]]:
    """Stills and a clip of about ``size`` bytes in all: JPEG/MP4 magic numbers, then random bytes."""
    still = max(size // 20, 64)
    return {
        "still-1-first_seen.jpg": ("still_raw", "image/jpeg", b"\xff\xd8\xff\xe0" + os.urandom(still)),
        "still-1-first_seen.annotated.jpg": (
            "still_annotated",
            "image/jpeg",
            b"\xff\xd8\xff\xe0" + os.urandom(still),
        ),
        "still-2-between.jpg": ("still_raw", "image/jpeg", b"\xff\xd8\xff\xe0" + os.urandom(still)),
        "still-3-confirmed.jpg": ("still_raw", "image/jpeg", b"\xff\xd8\xff\xe0" + os.urandom(still)),
        "crop.jpg": ("crop", "image/jpeg", b"\xff\xd8\xff\xe0" + os.urandom(still // 4)),
        "clip.mp4": ("clip", "video/mp4", b"\x00\x00\x00\x20ftypisom" + os.urandom(size - 4 * still)),
    }


@dataclass
class Edge:
    """A device with its site config (uplink to the balancer) and an outbox of signed packages."""

    device: Device
    config: Path
    outbox: Path
    packages: dict[int, str] = field(default_factory=dict)  # sequence -> manifest hash
    files: set[str] = field(default_factory=set)  # SHA-256 of every file sent
    proc: subprocess.Popen[bytes] | None = None


def make_edges(
    root: Path, engine: Engine, url: str, *, devices: int, packages: int, size: int, prefix: str = "edge"
) -> list[Edge]:
    """Enroll ``devices`` devices and queue ``packages`` chained, signed packages in each outbox."""
    edges = []
    with Session(engine) as session:
        for d in range(devices):
            folder = root / "devices" / f"{prefix}-{d:03d}"
            folder.mkdir(parents=True)
            device = make_device(folder, f"{prefix}-{d:03d}")
            token = add_device(
                session,
                device_id=device.id,
                public_key=public_key_b64(device.key.public_key()).encode(),
                actor="bench",
            )
            device.token_file.write_text(token + "\n", encoding="utf-8")
            config = edge_config(folder, device, url, timeout_s=30, retry_base_s=0.2, retry_max_s=1.0)
            edge = Edge(device, config, folder / "edge" / "outbox.sqlite")
            (folder / "edge").mkdir(exist_ok=True)
            queue(edge, packages, size)
            edges.append(edge)
    return edges


def queue(edge: Edge, count: int, size: int) -> None:
    """``count`` chained packages of about ``size`` bytes into ``edge``'s outbox."""
    evidence = edge.outbox.parent / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    box = Outbox(edge.outbox)
    prev = GENESIS_HASH
    try:
        for seq in range(1, count + 1):
            hit_id = f"{edge.device.id}-hit-{seq}"
            files = package_files(seq, size)
            ts = utc_ms(T0 + dt.timedelta(minutes=seq))
            m = make_signed(
                edge.device.key,
                sequence=seq,
                prev_hash=prev,
                device_id=edge.device.id,
                package_id=f"{edge.device.id}-{seq:08d}-violation",
                event=event_info(hit_id=hit_id, first_seen=ts, ts=ts),
                files=files,
                shop_id=f"shop-{edge.device.id}",
            )
            prev = edge.packages[seq] = manifest_hash(m)
            edge.files.update(hashlib.sha256(data).hexdigest() for _r, _m, data in files.values())
            folder = write_package(evidence, m, files)
            box.add(device_id=edge.device.id, kind="package", hit_id=hit_id, event="confirmed",
                    payload={"package_id": m.package_id, "sequence": seq}, package_dir=folder)  # fmt: skip
    finally:
        box.close()


def start_delivery(edge: Edge, timeout_s: float, log: Path) -> None:
    """``nce outbox deliver`` for ``edge``: a process of its own, until the outbox is empty."""
    with log.open("ab") as out:
        edge.proc = subprocess.Popen(
            [sys.executable, "-m", "nce", "outbox", "deliver", "--config", str(edge.config),
             "--timeout", str(timeout_s)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def delivering(edge: Edge, log: Path) -> bool:
    """Whether ``edge``'s delivery process is up (it printed its first line)."""
    return log.exists() and b"delivering" in log.read_bytes()


def wait_delivered(edges: list[Edge], timeout_s: float) -> list[int]:
    """Wait for every delivery process; their exit codes (0: the outbox is empty)."""
    deadline = time.monotonic() + timeout_s
    codes = []
    for e in edges:
        if e.proc is None:
            codes.append(-1)
            continue
        try:
            codes.append(e.proc.wait(max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            e.proc.kill()
            codes.append(e.proc.wait())
    return codes


# -- the audit ------------------------------------------------------------------------------------


def audit(engine: Engine, edges: list[Edge], urls: list[str]) -> dict[str, Any]:
    """Lost and duplicated packages, every device's chain, the ledger (hash chain and replay), and
    every evidence file downloaded through every replica (SHA-256 checked)."""
    lost = duplicated = broken_chains = 0
    with engine.connect() as conn:
        for e in edges:
            rows = conn.execute(
                text("SELECT seq, manifest_hash, manifest FROM hit_events WHERE device_id = :d ORDER BY seq"),
                {"d": e.device.id},
            ).all()
            got = Counter(r.seq for r in rows)
            duplicated += sum(n - 1 for n in got.values() if n > 1)
            lost += sum(1 for seq in e.packages if got[seq] == 0)
            prev = GENESIS_HASH
            for r in rows:
                if r.manifest_hash != e.packages.get(r.seq) or r.manifest["prev_manifest_hash"] != prev:
                    broken_chains += 1
                    break
                prev = r.manifest_hash
        (stored,) = conn.execute(text("SELECT count(*) FROM hit_events")).one()
    with Session(engine) as session:
        chain = ledger.verify(session)
        replay = ledger_replay.replay(session)
    # a supervisor (who sees every case), straight into the database (no password: no sign-in)
    token = add_user(
        lambda: Session(engine), role="supervisor", username=f"audit-{time.monotonic_ns()}", password_hash="-"
    )
    files = sorted(set().union(*(e.files for e in edges))) if edges else []
    bad_downloads = 0
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for url in urls:
            for sha in files:
                got = http.get(f"{url}/api/v1/evidence/{sha}")
                if got.status_code != 200 or hashlib.sha256(got.content).hexdigest() != sha:
                    bad_downloads += 1
    return {
        "packages": sum(len(e.packages) for e in edges),
        "stored": int(stored),
        "lost": lost,
        "duplicated": duplicated,
        "broken_device_chains": broken_chains,
        "ledger_ok": chain.ok,
        "ledger_entries": chain.entries,
        "replay_ok": replay.ok,
        "files": len(files),
        "downloads": len(files) * len(urls),
        "bad_downloads": bad_downloads,
    }
