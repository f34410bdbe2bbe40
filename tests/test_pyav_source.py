"""The PyAV source: decode modes, the on_packet contract, H.265, fallback to OpenCV, metrics, and
1080p25 city-camera streams (GOP 50) over RTSP from gst-rtsp-server, including a server restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from detector.metrics import PipelineMetrics
from detector.native_memory import return_large_blocks
from detector.sources import CameraReader, DecodeMode, ReaderOptions, StreamState
from detector.video.packets import EncodedPacket
from detector.video.pyav_source import GopProbe, choose_decode_mode
from tests.support.rtsp import MISSING, RtspServer, gst_rtsp_available
from tests.support.streams import VTEST, city_stream, render

pytestmark = pytest.mark.timeout(120)
FAST_RETRY = ReaderOptions(open_timeout_s=5, stall_s=3, backoff_initial_s=0.3, backoff_cap_s=2)
needs_rtsp = pytest.mark.skipif(not gst_rtsp_available(), reason=MISSING)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def run_file(path: Path, detect_fps: float = 1.0, **kw: object) -> CameraReader:
    """Read a file as fast as possible, taking every sample, to its end."""
    reader = CameraReader("cam", str(path), detect_fps=detect_fps, realtime=False, lossless=True, **kw)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 60
    while not reader.finished and time.monotonic() < deadline:
        reader.take_sample()
        time.sleep(0.002)
    reader.stop()
    return reader


@pytest.mark.parametrize(
    ("interval_s", "detect_fps", "b_frames", "mode"),
    [
        (1.0, 1.0, False, DecodeMode.keyframes),  # GOP 25 @ 25 fps: a key frame per sample
        (1.08, 1.0, False, DecodeMode.keyframes),  # within the 10 % tolerance (time-stamp jitter)
        (0.5, 2.0, False, DecodeMode.keyframes),
        (0.04, 5.0, False, DecodeMode.keyframes),  # intra-only
        (1.2, 1.0, False, DecodeMode.all),  # past the tolerance: key frames alone undersample
        (2.0, 1.0, False, DecodeMode.all),  # GOP 50 @ 25 fps, a city camera: half the rate asked
        (2.0, 1.0, True, DecodeMode.nonref),  # the same with B-frames: skip what nothing refers to
        (1.0, 2.0, False, DecodeMode.all),  # key frames every second, two samples a second asked
        (10.0, 1.0, False, DecodeMode.all),  # GOP 250, P-frames only: every frame is referenced
        (10.0, 1.0, True, DecodeMode.nonref),  # GOP 250 with B-frames
        (None, 1.0, True, DecodeMode.nonref),  # no second key frame in time
        (None, 1.0, False, DecodeMode.all),
    ],
)
def test_decode_mode_table(
    interval_s: float | None, detect_fps: float, b_frames: bool, mode: DecodeMode
) -> None:
    assert choose_decode_mode(interval_s, detect_fps, b_frames) == mode


@pytest.mark.parametrize(
    ("packets", "mode"),
    [
        # (media time, key, pts) at 25 fps; detect_fps 1
        ([(0.0, True, 0), (1.0, True, 25), (2.0, True, 50)], DecodeMode.keyframes),
        # an RTSP client's first packet: a key frame without pts, then the same picture with one
        ([(0.0, True, None), (0.0, True, 0), (2.0, True, 50)], DecodeMode.all),
        ([(0.0, True, 0), (0.0, True, 0), (2.0, True, 50)], DecodeMode.all),  # the same key twice
        ([(0.0, True, 0), (0.5, True, 12), (2.5, True, 62)], DecodeMode.all),  # one short: the longer counts
        ([(0.0, True, 0), (2.0, True, 50)], DecodeMode.all),  # one interval over the limit decides
        ([(0.0, True, 0), (1.0, True, 25), (1.7, False, 42)], None),  # one short interval: not yet
        ([(0.0, True, 0), (1.0, True, 25), (2.7, False, 67)], DecodeMode.all),  # no third key in time
        # FFmpeg's RTSP client re-bases the time stamps at the second key frame (its first RTCP
        # report): a new timeline, not B-frames; the interval is measured from there
        (
            [
                (0.0, True, None),
                (0.04, False, 3600),
                (1.96, False, 176400),
                (-0.04, True, 0),
                (1.96, True, 180000),
            ],
            DecodeMode.all,
        ),
    ],
)
def test_gop_probe_needs_two_short_intervals(
    packets: list[tuple[float, bool, int | None]], mode: DecodeMode | None
) -> None:
    probe = GopProbe(detect_fps=1.0)
    decided = [probe.observe(t, key, pts, False) for t, key, pts in packets]
    assert decided[-1] == mode and all(d is None for d in decided[:-1])
    assert probe.interval_s is None or probe.interval_s >= 1.0


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    root = tmp_path_factory.mktemp("streams")

    def make(gop: int, bframes: int = 0, codec: str = "h264") -> Path:
        out = root / f"gop{gop}-b{bframes}-{codec}.mp4"
        return (
            out if out.is_file() else render(out, codec, gop=gop, seconds=14, size="320:180", bframes=bframes)
        )

    return make


@pytest.mark.parametrize(
    ("gop", "bframes", "mode"),
    [
        (25, 0, DecodeMode.keyframes),  # a key frame a second: one per sample at detect_fps 1
        (50, 0, DecodeMode.all),  # every 2 s: key frames alone would give half the samples
        (250, 2, DecodeMode.nonref),
        (1, 0, DecodeMode.keyframes),
    ],
)
def test_decode_mode_is_measured_from_the_key_flags(
    small: Callable[..., Path], gop: int, bframes: int, mode: DecodeMode, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = PipelineMetrics()
    with caplog.at_level(logging.INFO, logger="detector.sources"):
        reader = run_file(small(gop, bframes), metrics=metrics)
    assert reader.state == StreamState.eof and reader.backend == "pyav"
    assert reader.decode_mode == mode
    assert [r.message for r in caplog.records].count(f"camera cam: decode mode {mode} ") == 0
    assert sum("decode mode" in r.message for r in caplog.records) == 1, "logged once per camera"
    assert metrics.value("nce_decode_mode", {"camera": "cam", "mode": mode.value}) == 1
    assert metrics.value("nce_decode_mode", {"camera": "cam", "mode": "opencv"}) == 0
    assert metrics.value("nce_packets_total", {"camera": "cam"}) == reader.packets_read == 14 * 25
    assert metrics.value("nce_frames_decoded_total", {"camera": "cam"}) == reader.frames_decoded
    if mode == DecodeMode.keyframes and gop > 1:
        # decoded: everything until the third key frame (the probe), then key frames only
        assert reader.frames_decoded <= 2 * gop + 14 * 25 // gop + 1
    elif mode == DecodeMode.all:
        assert reader.frames_decoded == reader.packets_read


@pytest.mark.parametrize("packets", [False, True])
def test_every_sample_is_taken_at_the_asked_rate_and_only_samples_are_kept(
    small: Callable[..., Path], packets: bool
) -> None:
    """GOP 50 at 25 fps, detect_fps 1: one frame a second becomes a sample (the first decoded at or
    after each due instant); a camera whose packets go to ``on_packet`` keeps no decoded ring (its
    clips are the packets) and decodes each GOP only up to its last sample (``gop_partial``: the
    first GOP whole, then 26 of each 50), any other keeps its ring and decodes every frame."""
    got: list[EncodedPacket] = []
    reader = CameraReader(
        "cam", str(small(50)), detect_fps=1, realtime=False, lossless=True,
        on_packet=got.append if packets else None,
    )  # fmt: skip
    reader.start()
    samples, longest = [], 0
    deadline = time.monotonic() + 60
    while not reader.finished and time.monotonic() < deadline:
        if (frame := reader.take_sample()) is not None:
            samples.append(frame.mono)
        longest = max(longest, len(reader.ring()))
        time.sleep(0.002)
    reader.stop()
    if packets:
        assert reader.decode_mode == DecodeMode.gop_partial and reader.frames_decoded == 50 + 6 * 26
    else:
        assert reader.decode_mode == DecodeMode.all and reader.frames_decoded == 14 * 25
    assert samples == pytest.approx([float(s) for s in range(14)], abs=1 / 25 + 1e-3)
    if packets:
        assert longest == 0 and reader.ring() == [] and len(got) == 14 * 25
    else:
        assert longest > 1 and len(reader.ring()) > 1


def test_on_packet_receives_every_packet_in_order_with_key_flags(small: Callable[..., Path]) -> None:
    path = small(50)
    got: list[EncodedPacket] = []
    reader = run_file(path, on_packet=got.append)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        want = [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in container.demux(stream) if p.size]
        tb = Fraction(stream.time_base)  # type: ignore[arg-type]
    assert [(p.data, p.pts, p.dts, p.is_keyframe) for p in got] == want
    assert sum(p.is_keyframe for p in got) == 7 and got[0].is_keyframe
    assert all(p.time_base == tb for p in got)
    walls = [p.wall_time for p in got]
    assert walls == sorted(walls) and walls[-1] - walls[0] == pytest.approx(14 - 1 / 25, abs=0.01)
    assert walls[-1] <= time.time(), "a file read fast is dated in the past, as its frames"
    info = reader.stream_info
    assert info is not None and (info.codec, info.width, info.height) == ("h264", 320, 180)
    assert info.time_base == tb and info.average_rate == 25 and info.extradata


def test_a_failing_on_packet_does_not_stop_the_camera(
    small: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(packet: EncodedPacket) -> None:
        raise RuntimeError("ring full")

    reader = run_file(small(50), on_packet=broken)
    assert reader.state == StreamState.eof and reader.packets_read == 14 * 25
    assert sum("on_packet failed" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize(("name", "content"), [("vtest", None), ("garbage.mp4", b"\x00not a video" * 100)])
def test_a_source_pyav_does_not_take_falls_back_to_opencv(
    tmp_path: Path, name: str, content: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    """vtest.avi (MS-MPEG4: outside the encoded domain) and a file PyAV cannot open go to OpenCV,
    with one log line; OpenCV reads the first and fails the second with its usual message."""
    path = VTEST if content is None else tmp_path / name
    if content is not None:
        path.write_bytes(content)
    metrics = PipelineMetrics()
    with caplog.at_level(logging.INFO, logger="detector.sources"):
        reader = CameraReader("cam", str(path), detect_fps=2, realtime=False, metrics=metrics)
        reader.start()
        wait_for(lambda: reader.state != StreamState.connecting, 30, "the file to open or fail")
        reader.stop()
    fallbacks = [r.message for r in caplog.records if "PyAV cannot open it" in r.message]
    assert len(fallbacks) == 1 and "reading it through OpenCV" in fallbacks[0]
    assert reader.backend == "opencv" and reader.decode_mode == DecodeMode.opencv
    assert metrics.value("nce_decode_mode", {"camera": "cam", "mode": "opencv"}) == 1
    if content is None:
        assert "msmpeg4" in fallbacks[0] and reader.ever_up and reader.stream_info is None
    else:
        assert reader.state == StreamState.failed and reader.reason == f"cannot open video file {path}"


@pytest.fixture
def hevc_server() -> Iterator[RtspServer]:
    srv = RtspServer("--file", str(city_stream("hevc")), "--codec", "h265", path="/city").start()
    yield srv
    srv.kill()


@pytest.fixture
def h264_server() -> Iterator[RtspServer]:
    srv = RtspServer("--file", str(city_stream("h264")), path="/city").start()
    yield srv
    srv.kill()


@needs_rtsp
def test_an_h265_city_stream_opens_and_samples_on_key_frames(hevc_server: RtspServer) -> None:
    """Key frames every 2 s serve detect_fps 0.5 alone."""
    got: list[EncodedPacket] = []
    metrics = PipelineMetrics()
    reader = CameraReader(
        "cam", hevc_server.url, detect_fps=0.5, options=FAST_RETRY, metrics=metrics, on_packet=got.append
    )
    reader.start()
    try:
        wait_for(lambda: reader.decode_mode is not None, 20, "the decode mode")
        wait_for(lambda: reader.take_sample() is not None, 10, "a sample")
        frame = reader.latest()
        assert frame is not None and frame.shape_hw == (1080, 1920)
        assert reader.decode_mode == DecodeMode.keyframes and reader.backend == "pyav"
        assert reader.stream_info is not None and reader.stream_info.codec == "hevc"
        assert abs(time.monotonic() - frame.mono) < 5
        assert got and got[0].is_keyframe is not None and any(p.is_keyframe for p in got)
        assert abs(got[-1].wall_time - time.time()) < 5, "live packets carry wall time"
        text = metrics.text()
        assert 'nce_decode_mode{camera="cam",mode="keyframes"} 1.0' in text
        assert "nce_packets_total" in text
    finally:
        reader.stop()


@needs_rtsp
def test_a_city_stream_reconnects_after_a_server_restart(h264_server: RtspServer) -> None:
    got: list[EncodedPacket] = []
    reader = CameraReader("cam", h264_server.url, detect_fps=0.5, options=FAST_RETRY, on_packet=got.append)
    reader.start()
    try:
        wait_for(lambda: reader.state == StreamState.up, 20, "the stream up")
        wait_for(lambda: reader.decode_mode == DecodeMode.keyframes, 20, "key frames only")
        h264_server.kill()
        wait_for(lambda: reader.state == StreamState.down, 15, "the reader to notice the server is gone")
        before = len(got)
        h264_server.start()  # same port
        wait_for(lambda: reader.state == StreamState.up, 30, "the reader to reconnect")
        wait_for(lambda: reader.take_sample() is not None, 10, "a sample after the restart")
    finally:
        reader.stop()
    assert reader.reconnects >= 1
    assert len(got) > before and any(p.is_keyframe for p in got[before:])
    assert reader.decode_mode == DecodeMode.keyframes


def test_freed_pictures_go_back_to_the_system() -> None:
    """Once the readers start, a 1080p BGR picture freed in a reader thread does not stay resident in
    that thread's malloc arena (glibc raises its mmap threshold past such blocks otherwise)."""

    def rss_mb() -> float:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    assert return_large_blocks()
    grown: list[float] = []

    def churn() -> None:
        before = rss_mb()
        for _ in range(3):  # freed once (which would raise the threshold), then allocated again
            pictures = [np.ones((1080, 1920, 3), np.uint8) for _ in range(6)]
            del pictures
        grown.append(rss_mb() - before)

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    assert grown and grown[0] < 3, f"{grown[0]:.1f} MB of freed pictures still resident (6 without the fix)"
