"""The heartbeat: every ``uplink.heartbeat_s`` the box tells the service its state
(:class:`nce.heartbeat.Heartbeat`: version, model, each camera's state, the outbox, disk, load and
its clock) at ``POST /api/v1/devices/me/heartbeat``.

It goes straight through the device's HTTP client (:class:`~detector.delivery.transport.HttpTransport`,
the same token), never through the outbox: a heartbeat that cannot be sent now is worth nothing
later. A failure is one log line (the first of a run of failures, and the recovery) and
``nce_heartbeats{outcome}``; it never blocks or stops the pipeline. The answer's clock offset is
logged when it is over 1 s, and the round trip is sent with the next heartbeat (the service's error
bound for the offset).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError

from detector.delivery.outbox import Outbox, OutboxError
from nce import __version__
from nce.bounds import clean_text
from nce.heartbeat import CAMERAS_MAX, CameraHealth, Heartbeat, HeartbeatAnswer

if TYPE_CHECKING:
    from detector.sources import CameraReader

__all__ = ["HeartbeatSender", "camera_health", "dir_bytes", "gpu_util"]

log = logging.getLogger(__name__)
PATH = "/api/v1/devices/me/heartbeat"


def dir_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 if it is missing)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name), follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def gpu_util() -> float | None:
    """The first GPU's utilisation (percent) from ``nvidia-smi``; None without one."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=2, check=True,
        ).stdout  # fmt: skip
        return min(100.0, max(0.0, float(out.split()[0])))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def camera_health(reader: CameraReader, frames_before: int, seconds: float) -> tuple[CameraHealth, int]:
    """One camera's line, its fps over the last ``seconds``, and its frame count now."""
    frames = reader.frames_received
    fps = max(0.0, (frames - frames_before) / seconds) if seconds > 0 else 0.0
    health = CameraHealth(
        id=reader.camera_id,
        state=reader.state.value,  # type: ignore[arg-type]  # StreamState's values are CameraState's
        since=dt.datetime.fromtimestamp(reader.state_since, dt.UTC),
        fps=min(fps, 1000.0),
        reconnects=min(reader.reconnects, 2**31 - 1),
        problem=clean_text(reader.last_problem, 300),
    )
    return health, frames


class HeartbeatSender:
    """A daemon thread posting a heartbeat every ``interval_s`` (the first at once)."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        service_url: str,
        interval_s: float,
        site_id: str,
        readers: Callable[[], Sequence[CameraReader]],
        outbox: Outbox | None,
        data_dir: Path,
        model_sha256: str | None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.url = service_url.rstrip("/") + PATH
        self.interval_s = interval_s
        self.site_id = site_id
        self.readers = readers
        self.outbox = outbox
        self.data_dir = data_dir
        self.model_sha256 = model_sha256
        self.clock = clock
        r = registry if registry is not None else CollectorRegistry()
        self.sent = Counter("nce_heartbeats", "heartbeats by outcome (ok, failed)", ["outcome"], registry=r)
        self.offset = Gauge(
            "nce_clock_offset_ms", "this box's clock minus the service's, as last measured", registry=r
        )
        self.rtt_ms: float | None = None
        self.last_answer: HeartbeatAnswer | None = None
        self.failing = False
        self._frames: dict[str, tuple[int, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval_s)

    def build(self) -> Heartbeat:
        now_mono = time.monotonic()
        cameras = []
        for reader in list(self.readers())[:CAMERAS_MAX]:
            before, at = self._frames.get(reader.camera_id, (reader.frames_received, now_mono))
            health, frames = camera_health(reader, before, now_mono - at)
            self._frames[reader.camera_id] = (frames, now_mono)
            cameras.append(health)
        depth, oldest = 0, 0.0
        if self.outbox is not None:
            try:
                depth, _poisoned, age = self.outbox.undelivered()
                oldest = age or 0.0
            except (OutboxError, sqlite3.Error) as exc:
                log.debug("heartbeat: outbox unreadable: %s", exc)
        try:
            free: int | None = shutil.disk_usage(self.data_dir if self.data_dir.exists() else ".").free
        except OSError:
            free = None
        return Heartbeat(
            version=__version__,
            site_id=self.site_id,
            model_sha256=self.model_sha256,
            cameras=cameras,
            outbox_depth=min(depth, 2**31 - 1),
            outbox_oldest_s=min(oldest, 10 * 365 * 86400),
            evidence_bytes=dir_bytes(self.data_dir / "evidence"),
            disk_free_bytes=free,
            cpu_load=min(os.getloadavg()[0], 1024.0),
            gpu_util=gpu_util(),
            sent_at=dt.datetime.fromtimestamp(self.clock(), dt.UTC),
            rtt_ms=self.rtt_ms,
        )

    def beat(self) -> HeartbeatAnswer | None:
        """One heartbeat; the answer, or None (logged once per run of failures)."""
        try:
            body = self.build().model_dump(mode="json")
            t0 = time.monotonic()
            response = self.client.post(self.url, json=body)
            rtt = (time.monotonic() - t0) * 1000
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}: {response.text[:200]}")
            answer = HeartbeatAnswer.model_validate_json(response.content)
        except (httpx.HTTPError, OSError, ValueError, ValidationError) as exc:
            self.sent.labels("failed").inc()
            if not self.failing:
                log.warning("heartbeat to %s failed (%s); the pipeline goes on", self.url, str(exc)[:200])
            self.failing = True
            return None
        self.sent.labels("ok").inc()
        if self.failing:
            log.info("heartbeat: the service answers again")
        self.failing = False
        self.rtt_ms = min(rtt, 86_400_000.0)
        self.offset.set(answer.offset_ms)
        if not answer.clock_ok and (self.last_answer is None or self.last_answer.clock_ok):
            log.warning(
                "this box's clock is %+.1f s off the service's: its evidence is flagged until it is fixed",
                answer.offset_ms / 1000,
            )
        self.last_answer = answer
        return answer
