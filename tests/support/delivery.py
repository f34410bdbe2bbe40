"""Real processes for the delivery tests: the case service (``python -m nce serve``) on a free port
with an enrolled device, edge configs with an ``uplink``, synthetic signed packages queued in an
outbox, and what the service stored (read from its SQLite database)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.delivery.outbox import Outbox
from nce.manifest import (
    GENESIS_HASH,
    generate_private_key,
    manifest_hash,
    save_private_key,
    save_public_key,
    utc_ms,
)
from tests.support.cli import nce
from tests.support.manifests import event_info, make_signed, write_package
from tests.support.servers import NceServe, free_port

SECRET = "delivery-test-secret-0123456789"
T0 = dt.datetime(2026, 11, 26, 2, 0, 0, tzinfo=dt.UTC)


class Service(NceServe):
    """``python -m nce serve`` on a SQLite file under ``root``, a fixed port (so that it can be
    restarted where the edge expects it), and what it stored."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.db = root / "service.sqlite3"
        super().__init__(
            db_url=f"sqlite:///{self.db}",
            evidence_dir=root / "store",
            log=root / "service.log",
            port=port,
            secret=SECRET,
            cwd=root,
        )

    def start(
        self, *, allow_exit: int | None = None, crash_after_commit: bool = False, **env: str
    ) -> Service:
        super().start(allow_exit=allow_exit, crash_after_commit=crash_after_commit, **env)
        return self

    def enroll(self, device_id: str, pubkey: Path, token_out: Path) -> None:
        done = nce("admin", "add-device", "--db", self.db_url, "--device-id", device_id,
                   "--pubkey", str(pubkey), "--token-out", str(token_out), cwd=self.root)  # fmt: skip
        assert done.returncode == 0, done.stderr

    def rows(self, device_id: str) -> list[dict[str, Any]]:
        """The hit events the service stored for ``device_id`` (packages have a ``seq``)."""
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return [
                dict(r)
                for r in conn.execute(
                    "SELECT hit_id, event, seq, package_id, ts, case_id, chain_gap FROM hit_events "
                    "WHERE device_id = ? ORDER BY id",
                    (device_id,),
                )
            ]
        finally:
            conn.close()

    def scalar(self, sql: str, *params: Any) -> Any:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, params).fetchone()[0]
        finally:
            conn.close()


@dataclass
class Device:
    id: str
    key: Ed25519PrivateKey
    key_file: Path
    pub_file: Path
    token_file: Path


def make_device(root: Path, device_id: str) -> Device:
    keys = root / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    save_private_key(key, keys / f"{device_id}.key")
    save_public_key(key.public_key(), keys / f"{device_id}.pub")
    return Device(
        device_id, key, keys / f"{device_id}.key", keys / f"{device_id}.pub", keys / f"{device_id}.token"
    )


def add_uplink(config: Path, device: Device, service_url: str, **uplink: Any) -> Path:
    """Add ``device`` and ``uplink`` sections to a site config file (outbox and data under its folder)."""
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    doc["device"] = {"id": device.id, "key_file": str(device.key_file)}
    doc["uplink"] = {
        "service_url": service_url,
        "token_file": str(device.token_file),
        "outbox_file": str(config.parent / "edge" / "outbox.sqlite"),
        "data_dir": str(config.parent / "edge"),
        "timeout_s": 5,
        "retry_base_s": 0.2,
        "retry_max_s": 1.0,
        **uplink,
    }
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return config


class SyntheticEdge:
    """Signed, chained packages in ``<data>/evidence`` and their outbox items, with an event for each
    hit before and after its package (what ``nce run`` queues, without a model or a camera)."""

    def __init__(self, device: Device, data_dir: Path, outbox_file: Path) -> None:
        self.device = device
        self.evidence = data_dir / "evidence"
        self.evidence.mkdir(parents=True, exist_ok=True)
        self.outbox_file = outbox_file
        self.sequence = 0
        self.prev = GENESIS_HASH
        self.items = 0
        self.packages: list[Path] = []

    def event(self, box: Outbox, hit_id: str, kind: str, n: int) -> None:
        t = utc_ms(T0 + dt.timedelta(seconds=n))
        payload = {
            "event": kind, "hit_id": hit_id, "site_id": "sh-pd-01", "camera_id": "cam-01", "zone_id": "z-shop-1",
            "shop_id": "shop-001", "violation": "out_of_shop_trading", "track_id": 7, "label": "stall",
            "score": 0.9, "box": [10.0, 20.0, 110.0, 220.0], "ts": t, "first_seen": t, "last_seen": t,
            "dwell_s": 0.0, "sightings": 1,
        }  # fmt: skip
        box.add(device_id=self.device.id, kind="event", hit_id=hit_id, event=kind, payload=payload)
        self.items += 1

    def hits(self, n: int) -> None:
        """Queue ``n`` hits: ``opened`` event, signed ``confirmed`` package, ``still_present`` event."""
        box = Outbox(self.outbox_file)
        try:
            for _ in range(n):
                self.sequence += 1
                hit_id = f"{self.device.id}-hit-{self.sequence}"
                self.event(box, hit_id, "opened", self.sequence)
                ev = event_info(hit_id=hit_id, first_seen=utc_ms(T0), ts=utc_ms(T0))
                m = make_signed(
                    self.device.key,
                    sequence=self.sequence,
                    prev_hash=self.prev,
                    device_id=self.device.id,
                    package_id=f"{self.device.id}-{self.sequence:08d}-violation",
                    event=ev,
                )
                self.prev = manifest_hash(m)
                folder = write_package(self.evidence, m)
                self.packages.append(folder)
                box.add(device_id=self.device.id, kind="package", hit_id=hit_id, event="confirmed",
                        payload={"package_id": m.package_id, "sequence": m.sequence}, package_dir=folder)  # fmt: skip
                self.items += 1
                self.event(box, hit_id, "still_present", self.sequence)
        finally:
            box.close()


def edge_config(root: Path, device: Device, service_url: str, **uplink: Any) -> Path:
    """A minimal site config (no cameras run) for ``nce outbox deliver``."""
    doc = {
        "site": {"id": "sh-pd-01", "name": "test", "timezone": "Asia/Shanghai"},
        "model": {"path": "none.onnx"},
        "shops": [{"id": "shop-001", "name": "shop", "code": "310000-0001"}],
        "cameras": [{"id": "cam-01", "name": "cam", "source": "none.mp4"}],
        "rules": [
            {"violation": "out_of_shop_trading", "zone_kinds": ["shop_frontage"], "classes": ["stall"]}
        ],
    }
    path = root / "site.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return add_uplink(path, device, service_url, **uplink)


def check_exactly_once(service: Service, device_id: str, outbox_file: Path) -> dict[str, int]:
    """Compare the outbox with what the service stored: every item once, none lost, none twice."""
    box = Outbox(outbox_file)
    try:
        items = box.items()
    finally:
        box.close()
    rows = service.rows(device_id)
    want = Counter(
        (i.payload["sequence"] if i.kind == "package" else None, i.hit_id, i.event)
        for i in items
        if i.status == "delivered"
    )
    got = Counter((r["seq"], r["hit_id"], r["event"]) for r in rows)
    got_pkgs = [r["seq"] for r in rows if r["seq"] is not None]
    duplicates = sum(max(0, n - want[k]) for k, n in got.items() if k in want)
    lost = sum(max(0, n - got[k]) for k, n in want.items())
    extra = sum(n for k, n in got.items() if k not in want)
    return {
        "items": len(items),
        "delivered": sum(1 for i in items if i.status == "delivered"),
        "pending": sum(1 for i in items if i.status == "pending"),
        "poisoned": sum(1 for i in items if i.status == "poisoned"),
        "service_packages": len(got_pkgs),
        "service_events": len(rows) - len(got_pkgs),
        "duplicates": duplicates,
        "lost": lost,
        "unexpected": extra,
        "in_order": int(got_pkgs == sorted(got_pkgs)),
    }


class ScriptedService:
    """A real HTTP server on loopback in place of the case service's ingest API: every item gets
    201, except those whose outbox seq is in ``failing``, which get ``fail_status`` with the same
    ``fail_body`` every time (a service that fails on one item). ``GET /api/v1/auth/me`` says the
    token is fine. ``requests`` lists the outbox seq of every POST, in order."""

    def __init__(self) -> None:
        self.failing: set[int] = set()
        self.fail_status = 500
        self.fail_body = '{"detail":"Internal Server Error: KeyError(\'zone\')"}'
        self.requests: list[int] = []
        self.delivered: list[int] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: str) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(200 if self.path == "/api/v1/auth/me" else 404, "{}")

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                seq = int(self.headers["Idempotency-Key"].rsplit(":", 1)[1])
                service.requests.append(seq)
                if seq in service.failing:
                    self._answer(service.fail_status, service.fail_body)
                else:
                    service.delivered.append(seq)
                    self._answer(201, '{"status": "created"}')

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="scripted-service", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


MOSQUITTO = ("127.0.0.1", 1883)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Broker:
    """The Mosquitto server on 127.0.0.1:1883; where none runs there (a fresh CI box), a private
    ``mosquitto`` on a free port for the session (the `mosquitto` package: ``make system``)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.host, self.port = MOSQUITTO
        if _listening(*MOSQUITTO):
            return
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if binary is None:
            raise RuntimeError("no MQTT broker on 127.0.0.1:1883 and no mosquitto binary (make system)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _listening(self.host, self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
