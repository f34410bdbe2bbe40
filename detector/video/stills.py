"""Stills decoded from encoded packets, so that a still's frame need not be kept decoded.

:func:`decode_at` decodes, for each wanted wall-clock time, from the key frame at or before it up to
the frame shown at that time (the last one at or before it; the first frame when all are later), and
returns it as BGR. Wanted times in the same group of pictures share one pass of the decoder.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from detector.errors import EvidenceError
from detector.video.packets import EncodedPacket, StreamInfo
from detector.video.remux import annexb_parameter_sets

Image8 = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DecodedStill:
    """The frame shown at ``wanted`` (a wall-clock time): its own time and pixels (BGR)."""

    wanted: float
    wall_time: float
    image: Image8


def _key_before(packets: Sequence[EncodedPacket], t: float) -> int:
    """Index of the last key frame at or before ``t`` (the first key frame when none is)."""
    keys = [i for i, p in enumerate(packets) if p.is_keyframe]
    if not keys:
        raise EvidenceError("stills: no key frame among the packets, nothing can be decoded")
    best = keys[0]
    for i in keys:
        if packets[i].wall_time <= t:
            best = i
    return best


def _decoder(info: StreamInfo, first: EncodedPacket) -> av.video.codeccontext.VideoCodecContext:
    ctx = av.CodecContext.create(info.codec, "r")
    extradata = info.extradata or annexb_parameter_sets(info.codec, first.data)
    if extradata:
        ctx.extradata = extradata
    if not isinstance(ctx, av.video.codeccontext.VideoCodecContext):
        raise EvidenceError(f"stills: {info.codec} is not a video codec")
    ctx.width, ctx.height = info.width, info.height
    return ctx


def _frames(info: StreamInfo, packets: Sequence[EncodedPacket]) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decoded frames of ``packets`` (from a key frame) in display order, with their wall times."""
    ctx = _decoder(info, packets[0])
    wall: dict[int, float] = {}
    for n, p in enumerate(packets):
        pts = p.pts if p.pts is not None else n
        wall[pts] = p.wall_time
        packet = av.Packet(p.data)
        packet.pts, packet.dts, packet.time_base = pts, p.dts if p.pts is not None else n, p.time_base
        for frame in ctx.decode(packet):
            if frame.pts is not None and frame.pts in wall:
                yield wall[frame.pts], frame
    for frame in ctx.decode(None):
        if frame.pts is not None and frame.pts in wall:
            yield wall[frame.pts], frame


def _bgr(frame: av.VideoFrame) -> Image8:
    return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


def decode_at(
    info: StreamInfo, packets: Sequence[EncodedPacket], times: Sequence[float]
) -> list[DecodedStill]:
    """The frames shown at ``times`` (wall clock), in the order asked. Raises :class:`EvidenceError`."""
    if not packets:
        raise EvidenceError("stills: no packets to decode")
    out: dict[float, DecodedStill] = {}
    pending = sorted(set(times))
    try:
        while pending:
            start = _key_before(packets, pending[0])
            group = [t for t in pending if _key_before(packets, t) == start]
            pending = [t for t in pending if t not in group]
            last: tuple[float, av.VideoFrame] | None = None
            todo = list(group)
            for wall, frame in _frames(info, packets[start:]):
                while todo and wall > todo[0] + 1e-6:
                    shown = last or (wall, frame)
                    out[todo[0]] = DecodedStill(todo[0], shown[0], _bgr(shown[1]))
                    todo.pop(0)
                if not todo:
                    break
                last = (wall, frame)
            for t in todo:  # wanted after the last frame: the last one is shown
                if last is None:
                    raise EvidenceError(f"stills: nothing decoded for {t:.3f}")
                out[t] = DecodedStill(t, last[0], _bgr(last[1]))
    except av.FFmpegError as exc:
        raise EvidenceError(f"stills: decoding {info.codec} failed: {exc}") from exc
    return [out[t] for t in times]
