"""What FFmpeg and OpenCV write straight to the process's stderr, turned into NCE's own log lines.

C libraries write to file descriptor 2 and bypass :mod:`logging`: a dead camera gives
``[tcp @ 0x7f…] Connection to tcp://… failed: Connection refused`` and
``[ WARN:0@1.0] global cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally available …`` on every
retry, between NCE's lines. While :class:`NativeLogCapture` is on, fd 2 is a pipe read by one thread:
an FFmpeg line becomes one ``detector.native`` record (``ffmpeg tcp: Connection … refused``), logged
once per distinct message (repeats at DEBUG, as NCE logs a camera's state change once), OpenCV's own
warnings go to DEBUG (``-v``), and any other text passes through unchanged. Python's own stderr
(logging, tracebacks) keeps writing to the real stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from typing import IO, Any

log = logging.getLogger("detector.native")

_FFMPEG = re.compile(r"^\[([\w,.-]+) @ 0x[0-9a-fA-F]+\] (.*)$")
_OPENCV = re.compile(r"^\[ ?(?:WARN|ERROR|INFO|DEBUG|FATAL):[^\]]*\] (.*)$")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def native_record(line: str) -> tuple[int, str] | None:
    """The level and one-line message for a line a C library wrote, or None to pass it through."""
    from detector.sources import redact  # a URL's user:password never reaches a log

    if m := _FFMPEG.match(line):
        return logging.INFO, redact(f"ffmpeg {m.group(1).split(',')[0]}: {m.group(2).strip()}")
    if m := _OPENCV.match(line):
        return logging.DEBUG, redact(f"opencv: {m.group(1).strip()}")
    return None


class NativeLogCapture:
    """Route fd 2 through :func:`native_record` between :meth:`start` and :meth:`stop`."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._thread: threading.Thread | None = None
        self._saved_fd = -1
        self._out: IO[str] | None = None
        self._old_stderr: Any = None
        self._moved: list[logging.StreamHandler[Any]] = []

    def start(self) -> None:
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
        self._out = os.fdopen(os.dup(self._saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        self._old_stderr = sys.stderr
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is self._old_stderr:
                handler.setStream(self._out)
                self._moved.append(handler)
        sys.stderr = self._out
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, args=(read_fd,), name="native-log", daemon=True)
        self._thread.start()

    def _pump(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", errors="replace").rstrip()
                if line:
                    self._emit(line)

    def _emit(self, line: str) -> None:
        record = native_record(line)
        if record is None:
            if self._out is not None:
                self._out.write(line + "\n")
            return
        level, message = record
        key = _ADDRESS.sub("0x", message)
        if level > logging.DEBUG and key in self._seen:
            level = logging.DEBUG  # said once already
        self._seen.add(key)
        log.log(level, "%s", message)

    def stop(self) -> None:
        if self._thread is None:
            return
        with contextlib.suppress(OSError):
            os.dup2(self._saved_fd, 2)  # the pipe's last writer goes: the pump reads to its end
        self._thread.join(timeout=5.0)
        self._thread = None
        sys.stderr = self._old_stderr
        for handler in self._moved:
            handler.setStream(self._old_stderr)
        self._moved.clear()
        if self._out is not None:
            self._out.close()
            self._out = None
        os.close(self._saved_fd)
