"""The PyAV source: every packet demuxed, only what the sampler needs decoded.

Each video packet goes to the reader's ``on_packet`` callback (:mod:`detector.video.packets`), then
to the decoder. Until the decode mode is known after each (re)connect (three key frames, fewer when
they come too rarely) the decoder decodes everything while :class:`GopProbe` measures the key-frame
interval from the packets' key flags; then the camera's decode mode (:func:`choose_decode_mode`)
sets the decoder's ``skip_frame``: ``NONKEY`` when a key frame comes at least every
``1 / detect_fps`` s (+10 %), ``NONREF`` when the stream has frames nothing
refers to (B-frames), else (``gop_partial``, :class:`PartialGop`) each GOP is decoded from its key
frame up to the last frame a sample needs before the next key frame is due, and ``NONKEY`` skips the
rest of it; a camera that keeps a decoded ring (no packet ring) decodes every frame (``all``). Only
frames due as a sample or for the ring become BGR.

Decoding runs on NVDEC when the camera's ``decode.hwaccel`` chose it (:mod:`detector.video.hwaccel`:
``av.open(..., hwaccel=...)``, frames downloaded to host memory), else on the CPU.

Live streams: RTSP over TCP with open and read timeouts and the short probe (as the OpenCV path);
decoding starts at the first key frame after each connect. Files keep the OpenCV path's timeline
(``utc = start + media time``; read faster than real time, the file ends when reading began).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from detector.video.common import DecodeMode, StreamState, redact, valid_image
from detector.video.packets import EncodedPacket, StreamInfo

if TYPE_CHECKING:
    from detector.video.reader import CameraReader

OPEN_LOCK = threading.Lock()  # opening an RTSP session (DESCRIBE/SETUP/PLAY), one at a time
log = logging.getLogger("detector.sources")

CODECS = frozenset({"h264", "hevc"})  # the encoded domain: what the packet ring and remux take
_SKIP = {
    DecodeMode.keyframes: "NONKEY",
    DecodeMode.nonref: "NONREF",
    DecodeMode.gop_partial: "DEFAULT",  # switched per packet (PartialGop)
    DecodeMode.all: "DEFAULT",
}


def choose_decode_mode(
    key_interval_s: float | None,
    detect_fps: float,
    has_b_frames: bool,
    tolerance: float = 0.10,
    *,
    partial: bool = False,
) -> DecodeMode:
    """``keyframes`` when a key frame comes at least every ``1 / detect_fps`` seconds (+ ``tolerance``,
    time-stamp jitter; ``None``: none came that soon), so key frames alone give every sample asked
    for; else ``nonref`` when the stream has frames nothing refers to (B-frames), else ``gop_partial``
    (``partial``: only the samples are needed, no decoded ring) or ``all``."""
    if key_interval_s is not None and key_interval_s <= (1.0 + tolerance) / detect_fps:
        return DecodeMode.keyframes
    if has_b_frames:
        return DecodeMode.nonref
    return DecodeMode.gop_partial if partial else DecodeMode.all


class PartialGop:
    """``gop_partial``: which packets of a GOP (no B-frames: decode order is display order) are decoded.

    A key frame is always decoded. A packet after it is decoded while a sample is due before the next
    key frame (``next_due < next key - half a frame``); once none is, the rest of the GOP is skipped
    (its frames are only references for frames nobody needs) until the next key frame. The next key
    frame is expected the longest of the last three key-frame intervals (media time) after the last
    one: a late guess only decodes more; one that comes later than the longest recent interval
    delays that one sample to it. Times are on the reader's clock (``t``: monotonic seconds for a
    live stream, media seconds for a file) and the intervals in media seconds."""

    def __init__(self, frame_s: float) -> None:
        self.frame_s = frame_s
        self.last_key: float | None = None  # the reader's clock
        self.last_key_media: float | None = None
        self.intervals: deque[float] = deque(maxlen=3)
        self.skipping = False
        self.skipped = 0

    def key(self, t: float, media: float) -> None:
        """A key packet at ``t`` (media time ``media``): decoding starts again."""
        self.skipping = False
        if self.last_key_media is not None and abs(media - self.last_key_media) <= 1e-3:
            return  # the same key frame again (an RTSP client's first packets)
        if self.last_key_media is not None and media > self.last_key_media:
            self.intervals.append(media - self.last_key_media)
        self.last_key, self.last_key_media = t, media  # (a jump back: a new timeline, same GOP)

    def decode(self, next_due: float) -> bool:
        """Whether the next non-key packet is decoded, ``next_due``: the next sample's time."""
        if self.skipping:
            self.skipped += 1
            return False
        if self.last_key is None or not self.intervals:
            return True
        next_key = self.last_key + max(self.intervals)
        if next_due >= next_key - self.frame_s / 2:
            self.skipping = True
            self.skipped += 1
            return False
        return True


class GopProbe:
    """Measures the key-frame interval from the packets' key flags and media times. ``keyframes``
    needs two intervals in a row within the limit (three key frames; the longer interval is the one
    kept): an RTSP client's first packet may be a key frame without a time stamp followed by the same
    picture again, and a time-stamp jump must not make a 2 s GOP look short. A key packet without a
    time stamp, or at the time of the previous one, is not counted. Decided as soon as one interval is
    over the limit, or once no key frame has come within the limit (+0.5 s); every frame is decoded
    until then."""

    def __init__(self, detect_fps: float, tolerance: float = 0.10) -> None:
        self.detect_fps, self.tolerance = detect_fps, tolerance
        self.limit_s = (1.0 + tolerance) / detect_fps
        self.keys: list[float] = []
        self.max_pts: int | None = None
        self.reordered = False
        self.decided: DecodeMode | None = None
        self.interval_s: float | None = None

    def observe(
        self, t: float, is_key: bool, pts: int | None, has_b_frames: bool, partial: bool = False
    ) -> DecodeMode | None:
        """Feed one packet (``t``: its media time in seconds); the mode once decided, else None
        (``partial``: :func:`choose_decode_mode`'s)."""
        if self.decided is not None:
            return self.decided
        if pts is not None and is_key and self.max_pts is not None and pts < self.max_pts:
            # a key frame shown before what came already is a new timeline, not B-frames: FFmpeg's
            # RTSP client re-bases its time stamps when the first RTCP sender report comes (seen
            # at the second key frame): the key frames are counted again from this one
            self.max_pts, self.keys = None, []
        if pts is not None:
            self.reordered = self.reordered or (self.max_pts is not None and pts < self.max_pts)
            self.max_pts = pts if self.max_pts is None else max(self.max_pts, pts)
        b = has_b_frames or self.reordered
        if is_key and pts is not None and (not self.keys or t > self.keys[-1] + 1e-3):
            self.keys.append(t)
            if len(self.keys) >= 2:
                last = self.keys[-1] - self.keys[-2]
                self.interval_s = max(last, self.interval_s or 0.0)
                if last > self.limit_s or len(self.keys) >= 3:
                    self.decided = choose_decode_mode(
                        self.interval_s, self.detect_fps, b, self.tolerance, partial=partial
                    )
        elif self.keys and t - self.keys[-1] > self.limit_s + 0.5:
            self.decided = choose_decode_mode(None, self.detect_fps, b, self.tolerance, partial=partial)
        return self.decided


def open_pyav(reader: CameraReader) -> tuple[Any, str, bool]:
    """(container, why not, whether to fall back to OpenCV). A live stream that does not answer is
    down (retried), not a reason to fall back; a source PyAV opens but whose video it does not take
    (no video, not H.264/H.265) or a file it cannot open at all goes to OpenCV."""
    opts = reader.options
    kind = "stream" if reader.is_live else "video file"
    if reader.is_live:
        # FFmpeg 5+ names the RTSP socket timeout `timeout` (µs; `stimeout` before, now gone)
        options = {"rtsp_transport": "tcp", "timeout": str(int(opts.stall_s * 1e6))}
        short = reader._short_probe
        if short and opts.probe_bytes > 0:
            options["probesize"] = str(opts.probe_bytes)
        try:
            with OPEN_LOCK:  # one RTSP session set up at a time (as opencv_source)
                container = av.open(
                    reader.source,
                    options=options,
                    timeout=(opts.open_timeout_s, opts.stall_s),
                    hwaccel=reader.decoder.accel(),
                )
        except (av.FFmpegError, OSError):
            if opts.probe_bytes > 0:
                reader._short_probe = not short  # as the OpenCV path: alternate short and full probe
            return None, f"cannot open {kind} {redact(reader.source)}", False
    else:
        if not Path(reader.source).is_file():
            return None, f"no such file {reader.source}", False
        try:
            container = av.open(reader.source, hwaccel=reader.decoder.accel())
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            return None, f"{type(exc).__name__}: {exc}", True
    if not container.streams.video:
        container.close()
        return None, "no video stream", True
    stream = container.streams.video[0]
    codec = stream.codec_context.name
    if codec not in CODECS:
        container.close()
        return None, f"its video is {codec}, not H.264/H.265", True
    cc = stream.codec_context
    reader.stream_info = StreamInfo(
        codec=codec,
        width=int(cc.width),
        height=int(cc.height),
        time_base=Fraction(stream.time_base or Fraction(1, 90000)),
        extradata=bytes(cc.extradata) if cc.extradata else None,
        average_rate=Fraction(stream.average_rate) if stream.average_rate else None,
    )
    return container, "", False


def read_pyav(reader: CameraReader, container: Any) -> tuple[str, str, int]:
    """Demux until the stream fails, the file ends, or stop: (outcome, why, frames delivered)."""
    opts = reader.options
    stream = container.streams.video[0]
    cc = stream.codec_context
    tb = Fraction(stream.time_base or Fraction(1, 90000))
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate and 1.0 <= float(rate) <= 240.0 else 25.0
    first_pts = stream.start_time if stream.start_time is not None else None
    start_wall = time.monotonic()
    start_utc = dt.datetime.now(dt.UTC)
    if not reader.is_live and not reader.realtime:
        length = float(stream.duration * tb) if stream.duration else (container.duration or 0) / 1e6
        # read faster than real time, the file's timeline ends when reading starts (as the OpenCV path)
        start_utc -= dt.timedelta(seconds=length)
    probe = GopProbe(reader.detect_fps, opts.keyframe_tolerance)
    gop = PartialGop(1.0 / fps)
    # a camera with a decoded ring needs every frame; one whose clips are packets, only samples
    partial = reader._ring_s() <= 0
    cc.skip_frame = "DEFAULT"
    if opts.decode_threads > 0:  # before the first decode opens the codec
        cc.thread_type, cc.thread_count = "SLICE", opts.decode_threads
    stalled = f"stalled: no frame for {opts.stall_s:g} s"
    delivered = bad_in_a_row = 0
    settling = opts.settle_frames
    applied = False  # the probe's decode mode is set on the decoder
    keyed = False  # a key frame arrived since this connect: decoding may begin
    last_media = -1.0
    packets = container.demux(stream)
    while not reader._stop.is_set():
        asked = time.monotonic()
        try:
            packet = next(packets)
        except StopIteration:
            packet = None
        except av.FFmpegError as exc:
            if reader.is_live:
                timed_out = time.monotonic() - asked >= 0.95 * opts.stall_s
                return "failed", stalled if timed_out else f"the stream could not be read: {exc}", delivered
            reader._count_error()
            if bad_in_a_row >= opts.max_corrupt_in_a_row:
                return "failed", f"the file could not be read: {exc}", delivered
            bad_in_a_row += 1
            continue
        if reader.is_live and time.monotonic() - asked >= 0.95 * opts.stall_s:
            # the read timed out; the demuxer may still hand back the rest of what it held: stale
            return "failed", stalled, delivered
        if packet is None:
            if reader.is_live:
                return "failed", "the stream ended or could not be read", delivered
            if delivered == 0:
                return "failed", "no frame could be decoded (not a video FFmpeg can read?)", 0
            return "eof", "", delivered
        pts = packet.pts if packet.pts is not None else packet.dts
        if first_pts is None and pts is not None:
            first_pts = pts
        media = float((pts - (first_pts or 0)) * tb) if pts is not None else max(last_media + 1.0 / fps, 0.0)
        last_media = max(last_media, media)
        if packet.size == 0:  # the demuxer's flush packet at the end of a file
            frames = _decode(reader, packet)
        else:
            pace = not reader.is_live and reader.realtime  # a file played in real time
            if pace and reader._stop.wait(max(0.0, start_wall + media - time.monotonic())):
                return "stopped", "", delivered
            reader._count_packet()
            wall = time.time() if reader.is_live else start_utc.timestamp() + media
            if reader.on_packet is not None:
                _hand_over(reader, packet, tb, wall)
            if packet.is_keyframe and packet.pts is not None:  # on the frames' clock (mono)
                gop.key(time.monotonic() if reader.is_live else media, media)
            if not applied and (
                mode := probe.observe(media, packet.is_keyframe, packet.pts, has_b(cc), partial)
            ):
                applied = True
                cc.skip_frame = _SKIP[mode]
                every = f"every {probe.interval_s:.2f} s" if probe.interval_s is not None else "rarer"
                reader._set_decode_mode(mode, f"key frames {every}, detect_fps {reader.detect_fps:g}")
            keyed = keyed or packet.is_keyframe
            if not keyed:
                continue  # joined mid-GOP: nothing decodes cleanly before the first key frame
            if applied and reader.decode_mode == DecodeMode.gop_partial:
                skip = "DEFAULT" if packet.is_keyframe or gop.decode(reader.next_due_s) else "NONKEY"
                if cc.skip_frame != skip:
                    cc.skip_frame = skip
            frames = _decode(reader, packet)
        if frames is None:
            bad_in_a_row += 1
            if bad_in_a_row > opts.max_corrupt_in_a_row:
                return "failed", "the decoder returns no usable frames", delivered
            continue
        for frame in frames:
            reader._count_frame()
            if reader.is_live and settling > 0:
                settling -= 1  # its colours may be wrong (the OpenCV path's settle_frames)
                continue
            if reader.is_live:
                mono, utc = time.monotonic(), dt.datetime.now(dt.UTC)
                index = reader.packets_read - 1
            else:
                fm = float((frame.pts - (first_pts or 0)) * tb) if frame.pts is not None else media
                mono, utc = fm, start_utc + dt.timedelta(seconds=fm)
                index = round(fm * fps)
            if not reader._wanted(mono):
                continue
            image = frame.to_ndarray(format="bgr24")
            if not valid_image(image):
                reader._count_error()
                continue
            bad_in_a_row = 0
            delivered += 1
            if reader.state != StreamState.up:
                reader._set_state(StreamState.up)
            reader._publish_image(index, image, utc, mono)
    return "stopped", "", delivered


def has_b(cc: Any) -> bool:
    return bool(getattr(cc, "has_b_frames", False))


def _decode(reader: CameraReader, packet: Any) -> list[Any] | None:
    try:
        return list(packet.decode())
    except av.FFmpegError as exc:
        if reader.read_errors == 0:
            log.warning("camera %s: undecodable packet: %s: skipped", reader.camera_id, exc)
        reader._count_error()
        return None


def _hand_over(reader: CameraReader, packet: Any, tb: Fraction, wall: float) -> None:
    sink = reader.on_packet
    if sink is None:
        return
    try:
        sink(EncodedPacket(bytes(packet), packet.pts, packet.dts, tb, bool(packet.is_keyframe), wall))
    except Exception:  # a consumer's fault must not stop the camera
        if not reader._sink_failed:
            log.exception("camera %s: on_packet failed (logged once; the stream goes on)", reader.camera_id)
            reader._sink_failed = True
