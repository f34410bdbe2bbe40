"""The encoded pre-roll on real H.264 / H.265 packets: the ring's bounds, the remuxed MP4 (the
camera's own bytes, a key frame first, faststart, its duration), the preview, stills from packets."""

from __future__ import annotations

import dataclasses
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from detector.errors import EvidenceError
from detector.metrics import PipelineMetrics
from detector.video.packets import EncodedPacket, StreamInfo
from detector.video.remux import annexb_parameter_sets, h264_preview, remux_mp4
from detector.video.ring import PacketRing, preroll_cap_bytes
from detector.video.stills import decode_at
from tests.support.encoded import EPOCH, GOP, decode_all, demux, make_media

CODECS = ["h264", "hevc"]
FPS = 10  # vtest.avi: a key frame every GOP / FPS = 5 s


@pytest.fixture(scope="module")
def media(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, StreamInfo, list[EncodedPacket]]]:
    folder = tmp_path_factory.mktemp("media")
    out = {}
    for codec in CODECS:
        path = make_media(folder, codec)
        info, packets = demux(path)
        out[codec] = (path, info, packets)
    return out


def _filled(info: StreamInfo, packets: list[EncodedPacket], keep_s: float, **kw: object) -> PacketRing:
    ring = PacketRing("cam-01", keep_s, stream_info=lambda: info, **kw)  # type: ignore[arg-type]
    for p in packets:
        ring(p)
    return ring


def _mp4_packets(path: Path) -> tuple[list[bytes], list[bool], StreamInfo]:
    info, packets = demux(path)
    return [p.data for p in packets], [p.is_keyframe for p in packets], info


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    ("pushed_s", "keep_s", "first_key_s"),
    [(14.9, 7.0, 5.0), (19.9, 5.0, 10.0), (12.0, 2.0, 10.0), (3.0, 7.0, 0.0)],
)
def test_ring_keeps_the_window_from_the_key_frame_before(
    media: dict, codec: str, pushed_s: float, keep_s: float, first_key_s: float
) -> None:
    _, info, packets = media[codec]
    pushed = [p for p in packets if p.wall_time - EPOCH <= pushed_s + 1e-6]
    ring = _filled(info, pushed, keep_s)
    snap = ring.snapshot()
    assert snap.packets[0].is_keyframe
    assert snap.packets[0].wall_time - EPOCH == pytest.approx(first_key_s, abs=1e-3)
    assert snap.packets[-1] is pushed[-1]
    # the window is covered (or all that came), and no whole group of pictures before it is kept
    start = pushed[-1].wall_time - keep_s
    assert snap.packets[0].wall_time <= max(start, pushed[0].wall_time) + 1e-6
    assert start - snap.packets[0].wall_time < GOP / FPS
    assert ring.bytes == sum(len(p.data) for p in snap.packets)


@pytest.mark.parametrize("codec", CODECS)
def test_ring_byte_cap_drops_whole_groups(media: dict, codec: str) -> None:
    _, info, packets = media[codec]
    gop_bytes = [sum(len(p.data) for p in packets[i : i + GOP]) for i in range(0, len(packets), GOP)]
    cap = max(gop_bytes) + min(gop_bytes) // 2  # one group and a bit: never two
    metrics = PipelineMetrics()
    ring = _filled(info, packets, 60.0, max_bytes=cap, gauge=metrics.preroll_bytes.labels("cam-01"))
    snap = ring.snapshot()
    assert ring.bytes <= cap and snap.packets[0].is_keyframe
    assert len(snap.packets) == GOP and snap.packets[-1] is packets[-1]
    assert ring.dropped_groups == len(gop_bytes) - 1
    assert metrics.value("nce_preroll_bytes", {"camera": "cam-01"}) == ring.bytes
    # a single group over the cap: nothing undecodable stays, the ring waits for the next key frame
    tiny = _filled(info, packets[: GOP + 10], 60.0, max_bytes=min(gop_bytes) // 2)
    assert len(tiny) == 0 or tiny.snapshot().packets[0].is_keyframe
    assert tiny.bytes <= min(gop_bytes) // 2


def test_ring_starts_at_a_key_frame_and_over_on_a_new_stream(media: dict) -> None:
    _, info, packets = media["h264"]
    current = [info]
    ring = PacketRing("cam-01", 30.0, stream_info=lambda: current[0])
    for p in packets[5:60]:  # joined mid-group: the first 45 cannot be decoded
        ring(p)
    snap = ring.snapshot()
    assert len(snap.packets) == 10 and snap.packets[0] is packets[50]
    current[0] = dataclasses.replace(info, width=640)  # a reconnect with another stream
    ring(packets[60])
    assert len(ring) == 0 and ring.info == current[0] and ring.generation == 2
    lost = ring.since(snap.next_seq)
    assert lost.info != snap.info  # a clip being collected sees the change


def test_ring_starts_over_when_the_stream_restarts(media: dict) -> None:
    _, info, packets = media["h264"]
    ring = _filled(info, packets[:80], 30.0)
    seq, generation = ring.snapshot().next_seq, ring.generation
    for p in packets[:5]:  # reconnected: the same stream from the start, timestamps from 0 again
        ring(dataclasses.replace(p, wall_time=p.wall_time + 100.0))
    snap = ring.snapshot()
    assert len(snap.packets) == 5 and snap.packets[0].pts == 0 and snap.packets[0].is_keyframe
    assert ring.since(seq).generation == generation + 1  # a clip being collected sees it


def test_ring_since_and_concurrent_push(media: dict) -> None:
    _, info, packets = media["h264"]
    ring = PacketRing("cam-01", 3.0, stream_info=lambda: info)
    taken: list[EncodedPacket] = []
    seq = 0
    pusher = threading.Thread(target=lambda: [ring(p) for p in packets])
    pusher.start()
    while pusher.is_alive() or seq < ring.since(seq).next_seq:
        got = ring.since(seq)
        if got.lost:  # the reader fell behind a 3 s ring: it sees that it did
            assert got.first_seq > seq
        taken += got.packets
        seq = got.next_seq
    pusher.join()
    assert taken[-1] is packets[-1]
    order = [packets.index(p) for p in taken]
    assert order == sorted(order) and len(set(order)) == len(order)


def test_cap_from_bitrate() -> None:
    assert preroll_cap_bytes(7.0, 8_000_000, 5.0) == 12_000_000
    assert preroll_cap_bytes(7.0) < 256e6  # the decoded ring's limit


@pytest.mark.parametrize("codec", CODECS)
def test_remux_is_the_camera_bitstream(tmp_path: Path, media: dict, codec: str) -> None:
    _, info, packets = media[codec]
    clip = packets[30:130]  # from mid-group: the remux starts at the next key frame
    result = remux_mp4(info, clip, tmp_path / "clip.mp4")
    data, keys, got = _mp4_packets(result.path)
    assert data == [p.data for p in packets[50:130]]  # the same bytes, packet for packet
    assert keys[0] and keys == [p.is_keyframe for p in packets[50:130]]
    assert got.codec == codec and (got.width, got.height) == (info.width, info.height)
    raw = result.path.read_bytes()
    assert 0 < raw.find(b"moov") < raw.find(b"mdat")  # +faststart
    with av.open(str(result.path)) as c:
        stream = c.streams.video[0]
        assert stream.start_time == 0
        assert float(stream.duration * stream.time_base) == pytest.approx(8.0, abs=1e-3)
        assert c.duration / 1e6 == pytest.approx(8.0, abs=1e-3)
        tag = stream.codec_context.codec_tag
    assert result.duration_s == pytest.approx(8.0, abs=1e-3)
    assert tag == ("hvc1" if codec == "hevc" else "avc1")
    frames = decode_all(result.path)
    assert len(frames) == 80


def test_remux_and_stills_with_b_frames(tmp_path: Path) -> None:
    path = make_media(tmp_path, "h264", 12.0, bframes=3)
    info, packets = demux(path)
    assert any(p.pts != p.dts for p in packets)  # the stream has reordered frames
    result = remux_mp4(info, packets[50:110], tmp_path / "clip.mp4")
    data, keys, _ = _mp4_packets(result.path)
    assert data == [p.data for p in packets[50:110]] and keys[0]
    full, got = decode_all(path), decode_all(result.path)
    assert len(got) == 60 and all(cv2.PSNR(a, b) > 60.0 for a, b in zip(got, full[50:110], strict=True))
    for still in decode_at(info, packets, [EPOCH + 6.3, EPOCH + 2.2]):
        assert cv2.PSNR(still.image, full[round((still.wall_time - EPOCH) * 10)]) > 60.0


def test_remux_without_timestamps_or_extradata(tmp_path: Path, media: dict) -> None:
    """An RTSP-like stream: Annex B packets with their parameter sets, no extradata, no pts."""
    path, info, packets = media["h264"]
    annexb = tmp_path / "raw.h264"
    with av.open(str(path)) as src, av.open(str(annexb), "w", format="h264") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for p in src.demux(src.streams.video[0]):
            if p.size:
                p.stream = stream
                out.mux(p)
    with av.open(str(annexb)) as c:
        raw = [bytes(p) for p in c.demux(video=0) if p.size]
    assert annexb_parameter_sets("h264", raw[0])
    bare = [
        EncodedPacket(d, None, None, Fraction(1, 90000), p.is_keyframe, p.wall_time)
        for d, p in zip(raw, packets, strict=True)
    ]
    info = dataclasses.replace(info, extradata=None, time_base=Fraction(1, 90000))
    result = remux_mp4(info, bare[:100], tmp_path / "clip.mp4")
    assert len(decode_all(result.path)) == 100
    assert result.duration_s == pytest.approx(10.0, abs=0.01)


@pytest.mark.parametrize(
    ("codec", "packets", "match"),
    [("vp9", 5, "H.264 or H.265"), ("h264", 0, "no key frame"), ("h264", -1, "no key frame")],
)
def test_remux_refuses(tmp_path: Path, media: dict, codec: str, packets: int, match: str) -> None:
    _, info, all_packets = media["h264"]
    chosen = all_packets[1:40] if packets == -1 else all_packets[:packets]
    with pytest.raises(EvidenceError, match=match):
        remux_mp4(dataclasses.replace(info, codec=codec), chosen, tmp_path / "clip.mp4")
    assert not (tmp_path / "clip.mp4").exists()


def test_hevc_preview_is_h264(tmp_path: Path, media: dict) -> None:
    _, info, packets = media["hevc"]
    clip = remux_mp4(info, packets[:100], tmp_path / "clip.mp4").path
    preview = h264_preview(clip, tmp_path / "clip.preview.mp4")
    with av.open(str(preview)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert c.duration / 1e6 == pytest.approx(10.0, abs=0.15)
    assert len(decode_all(preview)) == 100  # 10 fps: every frame (at most 10 a second are kept)
    raw = preview.read_bytes()
    assert raw.find(b"moov") < raw.find(b"mdat")
    assert preview.stat().st_size < clip.stat().st_size * 2
    slow = h264_preview(clip, tmp_path / "slow.mp4", max_fps=5.0)  # a 25 fps camera's preview: fewer frames
    assert len(decode_all(slow)) == 50
    with av.open(str(slow)) as c:
        assert c.duration / 1e6 == pytest.approx(10.0, abs=0.25)


@pytest.mark.parametrize("codec", CODECS)
def test_stills_from_packets_match_a_full_decode(media: dict, codec: str) -> None:
    path, info, packets = media[codec]
    full = decode_all(path)
    wanted = [EPOCH + 12.34, EPOCH + 3.05, EPOCH + 7.0, EPOCH + 7.04, EPOCH - 1.0, EPOCH + 99.0]
    expect = [123, 30, 70, 70, 0, len(full) - 1]  # the frame shown at each time
    stills = decode_at(info, packets, wanted)
    for still, t, i in zip(stills, wanted, expect, strict=True):
        assert still.wanted == t
        assert still.wall_time == pytest.approx(packets[i].wall_time)
        assert cv2.PSNR(still.image, full[i]) > 60.0
        other = full[i + 1] if i + 1 < len(full) else full[i - 1]
        assert not np.array_equal(still.image, other)  # the frame itself, not a neighbour
