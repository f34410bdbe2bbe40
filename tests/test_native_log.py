"""FFmpeg's and OpenCV's stderr lines become NCE log lines: one ``detector.native`` record per
distinct message (repeats at DEBUG), OpenCV's warnings at DEBUG, credentials redacted, other text
passed through."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from detector.native_log import native_record
from tests.support import pipelines as pf
from tests.support.cli import ROOT, nce


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "[tcp @ 0x7f9fc8004f00] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused",
            (
                logging.INFO,
                "ffmpeg tcp: Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused",
            ),
        ),
        (
            "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x7f9fc00016c0] moov atom not found",
            (logging.INFO, "ffmpeg mov: moov atom not found"),
        ),
        (
            "[rtsp @ 0x55d0] method DESCRIBE failed: 401 Unauthorized rtsp://admin:s3cret@10.0.0.9/live",
            (logging.INFO, "ffmpeg rtsp: method DESCRIBE failed: 401 Unauthorized rtsp://***@10.0.0.9/live"),
        ),
        (
            "[ WARN:0@1.008] global cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally available",
            (
                logging.DEBUG,
                "opencv: global cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally available",
            ),
        ),
        ("[ERROR:0@2.1] global something broke", (logging.DEBUG, "opencv: global something broke")),
        ("Traceback (most recent call last):", None),
        ("2026-12-01 10:00:00,000 INFO detector.cli.run: running", None),
    ],
)
def test_native_record(line: str, expected: tuple[int, str] | None) -> None:
    assert native_record(line) == expected


def test_capture_turns_fd2_lines_into_log_lines_and_passes_the_rest() -> None:
    code = (
        "import logging, os, sys\n"
        "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')\n"
        "from detector.native_log import NativeLogCapture\n"
        "c = NativeLogCapture(); c.start()\n"
        "os.write(2, b'[tcp @ 0xdead] refused\\n[tcp @ 0xbeef] refused\\nplain C text\\n')\n"
        "logging.getLogger('x').info('from python')\n"
        "print('python stderr', file=sys.stderr)\n"
        "c.stop()\n"
        "print('after', file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert lines.count("INFO detector.native: ffmpeg tcp: refused") == 1  # the repeat went to DEBUG
    assert "plain C text" in lines and "INFO x: from python" in lines
    assert "python stderr" in lines and lines[-1] == "after"
    assert not any(line.startswith("[tcp @") for line in lines)


def test_nce_run_has_no_raw_ffmpeg_or_opencv_lines(tmp_path: Path) -> None:
    model = pf.model(tmp_path / "m.onnx")
    (tmp_path / "bad.mp4").write_bytes(b"garbage" * 100)
    cams = [pf.camera("cam-dead", "rtsp://127.0.0.1:1/x"), pf.camera("cam-bad", "bad.mp4")]
    config = pf.site_config(tmp_path / "site.yaml", model, cams)
    res = nce("run", "--config", str(config), "--duration", "3", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stderr.splitlines()
    assert not [line for line in lines if line.startswith("[")], res.stderr[-3000:]
    native = [line for line in lines if " detector.native: " in line]
    # the RTSP camera is opened by PyAV, whose FFmpeg writes nothing to fd 2 (its errors come back as
    # exceptions, turned into the camera's own line); bad.mp4 falls back to OpenCV, whose FFmpeg does
    assert not any("ffmpeg tcp:" in line for line in native), native
    assert any("ffmpeg mov: moov atom not found" in line for line in native), native
    assert sum("cam-bad" in line and "PyAV cannot open it" in line for line in lines) == 1
    assert "cam-dead stopped (" in res.stderr and "never connected: cannot open stream" in res.stderr
