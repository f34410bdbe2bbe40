"""Evidence clips in the encoded domain: the camera's own packets remuxed into MP4 (no re-encode).

:func:`remux_mp4` writes packets of one stream (starting at a key frame) into an MP4 with
``+faststart`` (the index first, so a browser plays it before it has all of it), their timestamps
rebased so the first packet's decoding time is 0. The packets' bytes go into the file unchanged: the
clip *is* the camera's bitstream. H.265 is tagged ``hvc1`` (what Chromium and Safari expect);
browsers that cannot play it get :func:`h264_preview`, the one re-encode (small, low bitrate), which
the manifest names beside the original.

PyAV creates an output stream with a codec context only from a template stream; the template here
is a raw elementary-stream demuxer of the right codec (no data needed), whose parameters are then
set from the :class:`~detector.video.packets.StreamInfo`. The codec is never opened for encoding.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from detector.errors import EvidenceError
from detector.video.packets import EncodedPacket, StreamInfo

MP4_CODECS = ("h264", "hevc")
DEFAULT_RATE = Fraction(25)
PREVIEW_BITRATE = 600_000
PREVIEW_MAX_HEIGHT = 720
PREVIEW_MAX_FPS = 10.0
_START = b"\x00\x00\x01"
# NAL unit types of parameter sets: H.264 SPS 7, PPS 8; H.265 VPS 32, SPS 33, PPS 34
_PARAM_SETS = {"h264": (7, 8), "hevc": (32, 33, 34)}


@dataclass(frozen=True, slots=True)
class RemuxResult:
    """What was written: packets, their span (seconds, first decoding time to last end)."""

    path: Path
    packets: int
    duration_s: float
    codec: str


def _nal_type(codec: str, nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F if codec == "hevc" else nal[0] & 0x1F


def annexb_parameter_sets(codec: str, data: bytes) -> bytes | None:
    """The parameter sets (Annex B, start codes) of a key frame sent with them in-band, for a stream
    whose extradata the source did not give (RTSP without ``sprop-parameter-sets``)."""
    if not data.startswith((_START, b"\x00" + _START)):
        return None
    wanted = _PARAM_SETS.get(codec, ())
    out = b""
    for nal in data.split(_START):
        nal = nal.rstrip(b"\x00")
        if nal and _nal_type(codec, nal) in wanted:
            out += b"\x00\x00\x00\x01" + nal
    return out or None


def _template(codec: str) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    container = av.open(io.BytesIO(b"\x00\x00\x00\x01\x09\xf0"), "r", format=codec)
    return container, container.streams.video[0]


def _timestamps(packets: Sequence[EncodedPacket], info: StreamInfo) -> list[tuple[int, int, int]]:
    """(pts, dts, duration) of each packet in ``info.time_base``, rebased to a first dts of 0, dts
    strictly increasing (as MP4 needs), missing ones counted from the frame rate."""
    tb = info.time_base
    rate = info.average_rate or DEFAULT_RATE
    step = max(1, round(1 / (rate * tb)))
    raw: list[tuple[int, int]] = []
    for i, p in enumerate(packets):
        scale = p.time_base / tb
        pts = round(p.pts * scale) if p.pts is not None else None
        dts = round(p.dts * scale) if p.dts is not None else None
        if pts is None and dts is None:
            pts = dts = (raw[-1][1] + step) if raw else i * step
        raw.append((pts if pts is not None else dts, dts if dts is not None else pts))  # type: ignore[arg-type]
    base = min(raw[0])
    out: list[tuple[int, int, int]] = []
    prev = -1
    for pts, dts in raw:
        dts = max(dts - base, prev + 1)
        pts = max(pts - base, dts)
        out.append((pts, dts, step))
        prev = dts
    for i in range(len(out) - 1):  # a packet lasts until the next one decodes (a stall included)
        pts, dts, _ = out[i]
        out[i] = (pts, dts, max(1, out[i + 1][1] - dts))
    return out


def remux_mp4(info: StreamInfo, packets: Sequence[EncodedPacket], path: Path) -> RemuxResult:
    """Write ``packets`` (one stream, decode order) into an MP4 at ``path``; packets before the first
    key frame are left out (nothing could decode them). Raises :class:`EvidenceError`."""
    if info.codec not in MP4_CODECS:
        raise EvidenceError(
            f"clip: expected an H.264 or H.265 stream to remux, the camera sends {info.codec}"
        )
    first = next((i for i, p in enumerate(packets) if p.is_keyframe), None)
    if first is None:
        raise EvidenceError("clip: no key frame among the packets, nothing to remux")
    packets = packets[first:]
    extradata = info.extradata or annexb_parameter_sets(info.codec, packets[0].data)
    times = _timestamps(packets, info)
    try:
        template_container, template = _template(info.codec)
        with (
            template_container,
            av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            stream = out.add_stream_from_template(template)
            ctx = stream.codec_context
            ctx.width, ctx.height = info.width, info.height
            ctx.time_base = info.time_base
            stream.time_base = info.time_base
            if extradata:
                ctx.extradata = extradata
            if info.codec == "hevc":
                ctx.codec_tag = "hvc1"
            for p, (pts, dts, duration) in zip(packets, times, strict=True):
                packet = av.Packet(p.data)
                packet.pts, packet.dts, packet.duration = pts, dts, duration
                packet.time_base = info.time_base
                packet.is_keyframe = p.is_keyframe
                packet.stream = stream
                out.mux(packet)
    except (av.FFmpegError, ValueError, OSError) as exc:
        path.unlink(missing_ok=True)
        raise EvidenceError(
            f"clip: remuxing {len(packets)} {info.codec} packets into MP4 failed: {exc}"
        ) from exc
    last = times[-1]
    return RemuxResult(path, len(packets), float((last[1] + last[2]) * info.time_base), info.codec)


def h264_preview(
    source: Path,
    path: Path,
    *,
    bitrate: int = PREVIEW_BITRATE,
    max_height: int = PREVIEW_MAX_HEIGHT,
    max_fps: float = PREVIEW_MAX_FPS,
) -> Path:
    """Re-encode a clip (the H.265 original) as a small H.264 MP4 any browser plays: ``bitrate``
    bits a second, at most ``max_height`` lines and ``max_fps`` frames a second (each frame kept at
    its own time), ``+faststart``. Raises :class:`EvidenceError`."""
    try:
        with (
            av.open(str(source)) as src,
            av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            vin = src.streams.video[0]
            vin.thread_type = "AUTO"
            height = min(max_height, vin.codec_context.height) // 2 * 2
            width = round(vin.codec_context.width * height / vin.codec_context.height / 2) * 2
            rate = vin.average_rate or DEFAULT_RATE
            vout = out.add_stream(
                "libx264",
                rate=rate,
                options={
                    "preset": "veryfast",
                    "maxrate": str(bitrate),
                    "bufsize": str(2 * bitrate),
                    "crf": "28",
                },
            )
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            time_base = vin.time_base or Fraction(1, 90000)
            vout.codec_context.time_base = time_base
            vout.time_base = time_base
            last: float | None = None
            for frame in src.decode(vin):
                t = float(frame.time or 0.0)
                if last is not None and t - last < 1.0 / max_fps - 1e-3:
                    continue
                last = t
                picture = frame.reformat(width=width, height=height, format="yuv420p")
                picture.pts, picture.time_base = frame.pts, frame.time_base
                out.mux(vout.encode(picture))
            out.mux(vout.encode(None))
    except (av.FFmpegError, ValueError, OSError) as exc:
        path.unlink(missing_ok=True)
        raise EvidenceError(f"clip: the H.264 preview of {source.name} failed: {exc}") from exc
    return path
