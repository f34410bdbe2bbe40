"""Real servers on loopback: a free port, an app under uvicorn in a thread (real HTTP, real
concurrency), and ``python -m nce serve`` as a subprocess (the command a user runs)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from nce.manifest import generate_private_key, save_private_key

SERVE_SECRET = "serve-test-secret-0123456789"
CRASH_AFTER_COMMIT = Path(__file__).parent / "crash_after_commit.py"
CRASH_EXIT = 9  # what crash_after_commit.py exits with


def service_key_file(folder: Path) -> Path:
    """``folder/service.key``: the service's checkpoint signing key (NCE_SERVICE_KEY_FILE), made once."""
    path = folder / "service.key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        save_private_key(generate_private_key(), path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off")
    with serving_config(config) as url:
        yield url


@contextmanager
def serving_config(config: uvicorn.Config) -> Iterator[str]:
    """A uvicorn server of ``config`` in a thread, until the block ends; yields its base URL."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class NceServe:
    """``python -m nce serve --db DB --port PORT --evidence-dir DIR`` as a subprocess (``env`` added to
    its environment), its output appended to ``log``. ``start()`` returns once ``/healthz`` answers 200; the port stays fixed, so
    that the service can be stopped or killed and started again where its clients expect it."""

    def __init__(
        self,
        *,
        db_url: str,
        evidence_dir: Path,
        log: Path,
        port: int | None = None,
        secret: str = SERVE_SECRET,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.evidence_dir = evidence_dir
        self.log = log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secret
        self.cwd = cwd
        self.env = dict(env or {})  # added to the environment of every start
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(
        self, *, allow_exit: int | None = None, crash_after_commit: bool = False, **env: str
    ) -> NceServe:
        """Start it with ``env`` added; an exit with code ``allow_exit`` before it is up is no error
        (the caller asked for a crash and waits for it). ``crash_after_commit``: run it through
        tests/support/crash_after_commit.py, which makes the process exit 9 right after each ingest
        commits (the edge's retry may reach it before the health check does: that exit is no error)."""
        command = [str(CRASH_AFTER_COMMIT)] if crash_after_commit else ["-m", "nce"]
        if crash_after_commit:
            allow_exit = CRASH_EXIT
        assert self.proc is None or self.proc.poll() is not None
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, *command, "serve", "--db", self.db_url, "--port", str(self.port),
                 "--evidence-dir", str(self.evidence_dir)],
                cwd=self.cwd,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "NCE_SECRET_KEY": self.secret,
                    "NCE_SERVICE_KEY_FILE": str(service_key_file(self.log.parent)),
                    "PYTHONUNBUFFERED": "1",
                    # the tests' shared database meets many keys (Cluster sets 0: replicas that must agree)
                    "NCE_ACCEPT_CHANGED_SETTINGS": "1",
                    **self.env,
                    **env,
                },
            )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if allow_exit is not None and self.proc.returncode == allow_exit:
                    return self
                raise RuntimeError(f"nce serve exited {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nce serve did not come up:\n{self.output()[-3000:]}")

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("nce serve was never started")
        return self.proc.pid

    def rss(self) -> int:
        """Its resident memory now, in bytes (Linux ``/proc``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def output(self) -> str:
        """Everything it wrote so far (all starts)."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 10 s; the exit code (None if it never ran)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.proc is None else self.proc.returncode

    def __enter__(self) -> NceServe:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
