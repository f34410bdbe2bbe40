"""``gop_partial``: a stream without B-frames whose key frames come too rarely for ``detect_fps`` is
decoded in each GOP only up to the last frame a sample needs; the rest of the GOP is skipped until the
next key frame. On the real 1080p25 city stream (GOP 50, tests/support/streams.py): how many frames
are decoded, the samples come at the same times and are the same pictures as when every frame is
decoded, and live over RTSP every sample still comes once a second."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pytest

from detector.metrics import PipelineMetrics
from detector.sources import CameraReader, DecodeMode, ReaderOptions
from detector.video.packets import EncodedPacket
from detector.video.pyav_source import PartialGop, choose_decode_mode
from tests.support.rtsp import MISSING, RtspServer, gst_rtsp_available
from tests.support.streams import FPS, GOP, SECONDS, city_stream

pytestmark = pytest.mark.timeout(180)


def read_file(detect_fps: float, packets: bool) -> tuple[CameraReader, list[tuple[float, np.ndarray]]]:
    """The city stream read as fast as possible, every sample taken; ``packets``: with an ``on_packet``
    consumer (the evidence packager's packet ring), so no decoded ring is kept."""
    got: list[EncodedPacket] = []
    reader = CameraReader(
        "cam", str(city_stream("h264")), detect_fps=detect_fps, realtime=False, lossless=True,
        on_packet=got.append if packets else None,
    )  # fmt: skip
    reader.start()
    samples = []
    deadline = time.monotonic() + 120
    while not reader.finished and time.monotonic() < deadline:
        if (frame := reader.take_sample()) is not None:
            samples.append((frame.mono, frame.image))
        time.sleep(0.002)
    reader.stop()
    return reader, samples


def expected_decoded(detect_fps: float) -> int:
    """Frames decoded: the first GOP whole (the probe measures the key-frame interval on it), then per
    GOP its key frame and every frame up to the last one a sample takes (the first frame at or after
    each due instant on the grid of 1 / detect_fps; one due at the next key frame's time is that
    key frame's)."""
    frames = SECONDS * FPS
    taken = set()
    k = 0
    while (due := k / detect_fps) < SECONDS - 1e-9:
        taken.add(math.ceil(due * FPS - 1e-6))
        k += 1
    total = GOP
    for start in range(GOP, frames, GOP):
        last = max((f for f in taken if start <= f < start + GOP), default=start)
        total += last - start + 1
    return total


@pytest.mark.parametrize(
    ("interval_s", "detect_fps", "partial", "mode"),
    [
        (2.0, 1.0, True, DecodeMode.gop_partial),  # the city camera at detect_fps 1
        (2.0, 1.0, False, DecodeMode.all),  # a camera that keeps a decoded ring needs every frame
        (None, 1.0, True, DecodeMode.gop_partial),
        (2.0, 0.5, True, DecodeMode.keyframes),
    ],
)
def test_the_mode_without_b_frames(
    interval_s: float | None, detect_fps: float, partial: bool, mode: DecodeMode
) -> None:
    assert choose_decode_mode(interval_s, detect_fps, False, partial=partial) == mode
    assert choose_decode_mode(interval_s, detect_fps, True, partial=partial) in (DecodeMode.nonref, mode)


def test_a_gop_is_decoded_up_to_its_last_sample() -> None:
    """Key frames every 2 s at 25 fps, samples due every second: decode the key frame and up to the
    frame at +1 s, skip the 24 after it; a key frame that comes early starts decoding again, and a
    key frame interval seen once longer makes the guess longer."""
    gop = PartialGop(1 / 25)
    gop.key(0.0, 0.0)
    assert gop.decode(1.0), "no interval known yet: decode"
    gop.key(2.0, 2.0)
    due = 3.0
    decoded = []
    for i in range(1, 50):
        t = 2.0 + i / 25
        if ok := gop.decode(due):
            decoded.append(i)
        if ok and t >= due - 1e-3:
            due += 1.0  # the sample was published: the next one is due a second later
    assert decoded == list(range(1, 26)) and gop.skipping
    gop.key(3.5, 3.5)  # an early key frame (a scene cut): decoding starts again
    assert not gop.skipping and gop.decode(4.0)
    gop.key(7.5, 7.5)  # the longest of the last three intervals (4 s) is the guess now
    assert gop.decode(10.0) and not gop.decode(11.5 - 0.01)


@pytest.mark.parametrize("detect_fps", [1.0, 2.0, 0.7])
def test_the_city_stream_decodes_only_what_samples_need(
    detect_fps: float, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="detector.sources"):
        partial, got = read_file(detect_fps, packets=True)
    full, want = read_file(detect_fps, packets=False)
    assert partial.decode_mode == DecodeMode.gop_partial and full.decode_mode == DecodeMode.all
    assert sum("decode mode gop_partial (key frames" in r.message for r in caplog.records) == 1
    assert partial.packets_read == full.packets_read == full.frames_decoded == SECONDS * FPS
    assert partial.frames_decoded == expected_decoded(detect_fps) < 0.8 * SECONDS * FPS
    assert partial.read_errors == 0
    # the same samples, at the same times, and the same pictures (nothing decoded from a broken reference)
    assert [t for t, _ in got] == [t for t, _ in want]
    assert len(got) == math.ceil(SECONDS * detect_fps - 1e-6)
    for (_, a), (_, b) in zip(got, want, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.skipif(not gst_rtsp_available(), reason=MISSING)
def test_a_live_city_stream_gives_every_sample_on_time_in_gop_partial() -> None:
    """Over RTSP at 1 detect-fps: after the mode is known, a sample every second (the grid's), each GOP
    decoded at least up to its samples (how much of it depends on where its key frame falls on the grid:
    26 of 50 when just before a due instant, all when just after one; the file test counts exactly)."""
    server = RtspServer("--file", str(city_stream("h264")), path="/city").start()
    metrics = PipelineMetrics()
    options = ReaderOptions(open_timeout_s=5, stall_s=3, backoff_initial_s=0.3, backoff_cap_s=2)
    got: list[EncodedPacket] = []
    reader = CameraReader(
        "cam", server.url, detect_fps=1.0, options=options, metrics=metrics, on_packet=got.append
    )
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while reader.decode_mode is None and time.monotonic() < deadline:
            reader.take_sample()
            time.sleep(0.01)
        assert reader.decode_mode == DecodeMode.gop_partial
        time.sleep(0.5)
        reader.take_sample()
        decoded0, packets0 = reader.frames_decoded, reader.packets_read
        samples = []
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if (frame := reader.take_sample()) is not None:
                samples.append(frame.mono)
            time.sleep(0.01)
        decoded, packets = reader.frames_decoded - decoded0, reader.packets_read - packets0
    finally:
        reader.stop()
        server.kill()
    assert reader.samples_dropped == 0 and reader.read_errors == 0
    # at least the window's samples; one or two more when the reader entered the window behind the
    # stream (a loaded machine) and caught up: extra samples can only be the grid's, as the gaps show
    assert len(samples) >= 9
    gaps = np.diff(samples)
    assert np.all(gaps > 0.9) and np.all(gaps < 1.1), gaps
    gops = packets // GOP
    assert packets > 200 and 26 * gops - 2 <= decoded <= packets
    assert metrics.value("nce_decode_mode", {"camera": "cam", "mode": "gop_partial"}) == 1


def test_a_time_stamp_jump_back_starts_a_new_timeline_with_the_same_gop() -> None:
    """FFmpeg's RTSP client re-bases its time stamps once (the second key frame comes at media time
    -0.04 s): that key frame is where the GOP starts, the interval seen before still holds."""
    gop = PartialGop(1 / 25)
    gop.key(100.0, 0.0)
    gop.key(102.0, 2.0)
    gop.key(104.0, -0.04)
    assert gop.last_key == 104.0 and list(gop.intervals) == [2.0]
    assert gop.decode(105.0) and not gop.decode(106.0)
    gop.key(106.0, 1.96)
    assert list(gop.intervals) == [2.0, 2.0] and not gop.skipping
