"""RTSP against a real RTSP server on loopback (GStreamer's gst-rtsp-server, see tests.support.rtsp).

The server streams SMPTE bars; their red bar (x 5/7..6/7, y 0..2/3) is what the colour-patch model
finds, standing in the zone below. The server is killed mid-run and started again on the same port:
the reader must reconnect and the hit must go on. H.264 is read through PyAV (the 1080p25 city
streams, H.265 and the decode modes: tests/test_pyav_source.py).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from detector.config import load_site_config
from detector.metrics import PipelineMetrics
from detector.model_setup import detector_from_config
from detector.pipeline import Pipeline, PipelineOptions
from detector.sources import CameraReader, ReaderOptions, StreamState
from tests.support import pipelines as pf
from tests.support.rtsp import MISSING, RtspServer, gst_rtsp_available
from tests.test_pipeline import Recorder

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not gst_rtsp_available(), reason=MISSING),
]

FAST_RETRY = ReaderOptions(open_timeout_s=5, stall_s=3, backoff_initial_s=0.3, backoff_cap_s=2)


@pytest.fixture
def server() -> Iterator[RtspServer]:
    srv = RtspServer()
    srv.start()
    yield srv
    srv.kill()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_reader_gets_live_frames_over_tcp_and_reports_a_stall(server: RtspServer) -> None:
    reader = CameraReader("cam", server.url, detect_fps=5, options=FAST_RETRY)
    reader.start()
    try:
        wait_for(lambda: reader.frames_decoded >= 10, 20, "frames")
        frame = reader.latest()
        assert frame is not None and frame.shape_hw == (240, 320)
        assert reader.state == StreamState.up and reader.is_live
        assert reader.backend == "pyav" and reader.stream_info is not None, "H.264 goes through PyAV"
        assert abs(time.monotonic() - frame.mono) < 5, "live frames carry the monotonic clock"
        for f in reader.ring():  # every frame shows the red bar: no unsettled first frame, no black
            b, g, r = (int(v) for v in f.image[80, 260])
            assert r > 200 and g < 60 and b < 60, (f.index, (b, g, r))
        wait_for(lambda: reader.take_sample() is not None, 5, "a sample")
        # a stall: the server stops sending but keeps the connection
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        stalled_at = time.monotonic()

        def down() -> bool:
            reader.check_stall()  # the pipeline calls this on every turn of its loop
            return reader.state == StreamState.down

        wait_for(down, 10, "the stall to be noticed")
        assert time.monotonic() - stalled_at < FAST_RETRY.stall_s + 1.5
        assert "stalled" in reader.reason
        server.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: reader.state == StreamState.up, 30, "frames again")
    finally:
        if server.proc is not None:
            server.proc.send_signal(signal.SIGCONT)
        reader.stop()
    assert reader.state in (StreamState.stopped,)  # (a tuple: mypy narrowed .state above)


def test_server_restart_reconnects_and_hits_go_on(tmp_path: Path, server: RtspServer) -> None:
    model = pf.model(tmp_path / "colour.onnx")
    zone = [[0.6, 0.5], [0.95, 0.5], [0.95, 0.85], [0.6, 0.85]]  # around the red bar's foot
    cam = pf.camera("cam-rtsp", server.url, zones=False)
    cam["zones"] = [{"id": "z-front", "kind": "shop_frontage", "shop_id": "S-1", "polygon": zone}]
    twin = pf.camera("cam-twin", server.url, zones=False)  # a second camera on the same stream
    rule = {**pf.RULES[0], "min_dwell_s": 0.5, "grace_s": 2.0, "update_interval_s": 0.5, "cooldown_s": 60}
    config = load_site_config(pf.site_config(tmp_path / "site.yaml", model, [cam, twin], rules=[rule]))
    rec, metrics = Recorder(), PipelineMetrics()
    pipeline = Pipeline(
        config,
        detector_from_config(config),
        [rec],
        options=PipelineOptions(reader=FAST_RETRY),
        metrics=metrics,
    )
    worker = threading.Thread(target=pipeline.run, daemon=True)
    worker.start()
    reader = pipeline.cameras[0].reader
    try:
        wait_for(lambda: any(e.event == "confirmed" for e, _, _ in rec.events), 30, "a confirmed hit")
        server.kill()
        wait_for(lambda: reader.state == StreamState.down, 15, "the reader to notice the server is gone")
        assert metrics.value("nce_stream_up", {"camera": "cam-rtsp"}) == 0
        restarted_at = time.monotonic()
        server.start()  # same port
        wait_for(lambda: reader.state == StreamState.up, 30, "the reader to reconnect")
        wait_for(
            lambda: any(t > restarted_at and e.event == "still_present" for e, t, _ in rec.events),
            20,
            "hits after the restart",
        )
        # live cameras sampled on one clock grid are due together and share a batch
        wait_for(lambda: pipeline.summary.largest_batch == 2, 10, "a batch of both cameras")
    finally:
        pipeline.stop()
        worker.join(20)
    assert not worker.is_alive()
    assert reader.reconnects >= 1
    assert metrics.value("nce_reconnects_total", {"camera": "cam-rtsp"}) == reader.reconnects
    assert len({e.hit_id for e, _, _ in rec.events}) == 1, "one hit across the outage"
    assert [e.event for e, _, _ in rec.events][:2] == ["opened", "confirmed"]
    assert rec.closed


def test_several_cameras_open_with_their_own_options(server: RtspServer) -> None:
    """Readers open one at a time (OpenCV's lock and ours), each with the short probe, and all come up."""
    readers = [CameraReader(f"cam-{i}", server.url, detect_fps=5, options=FAST_RETRY) for i in range(3)]
    for r in readers:
        r.start()
    try:
        wait_for(lambda: all(r.state == StreamState.up for r in readers), 30, "three streams up")
        assert all(r._short_probe for r in readers), "the short probe revealed the stream's format"
        assert all(r.latest() is not None and r.latest().shape_hw == (240, 320) for r in readers)  # type: ignore[union-attr]
    finally:
        for r in readers:
            r.stop()


def test_failed_short_probe_open_retries_with_a_full_probe() -> None:
    """A stream that cannot be opened with the short probe is tried next with FFmpeg's default one."""
    options = ReaderOptions(open_timeout_s=2, backoff_initial_s=60)
    reader = CameraReader("cam", "rtsp://127.0.0.1:9/nothing-listens", detect_fps=5, options=options)
    assert reader._short_probe
    reader.start()
    try:
        wait_for(lambda: reader.state == StreamState.down, 15, "the failed open")
        assert not reader._short_probe
    finally:
        reader.stop()
