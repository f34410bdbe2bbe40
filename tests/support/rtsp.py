"""A real RTSP server on loopback: :file:`tests/support/rtsp_server.py` (GStreamer's gst-rtsp-server)
in Debian's python3, for the RTSP tests and the scaling benchmark.

gst-rtsp-server is a real part (``make system`` installs it): where it is missing, a test that needs
it is skipped on a workstation and fails under CI (see :mod:`tests.support.real_parts`).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_server.py")
MISSING = "gst-rtsp-server is missing: run `make system` (python3-gi, gir1.2-gst-rtsp-server-1.0)"


def gst_rtsp_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("gst-inspect-1.0") is None:
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


class RtspServer:
    """The server with ``options`` (``--file X``, ``--pattern ball``, ...) at ``path``. The first
    ``start()`` picks a free port; later ones reuse it (a restart where the cameras expect it)."""

    def __init__(self, *options: str, path: str = "/cam") -> None:
        self.options = options
        self.path = path
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> RtspServer:
        # its stderr into a file: a pipe nobody reads could fill up and stall the server
        with tempfile.TemporaryFile() as err:
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port), "--path", self.path, *self.options],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()  # "PORT n" once it listens
            if not line.startswith("PORT "):
                self.kill()
                err.seek(0)
                raise RuntimeError(f"the RTSP server did not start: {line!r} {err.read().decode()[-300:]}")
        self.port = int(line.split()[1])
        return self

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def kill(self) -> None:
        """SIGKILL: the camera's server dies mid-stream."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
