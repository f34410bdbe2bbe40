"""The encoded-packet contract between a video source and its packet consumers.

A source demuxes every video packet of a camera's stream (PyAV) and, when it
was given an ``on_packet`` callback (``CameraReader(..., on_packet=f)``, or
``reader.on_packet = f`` before ``reader.start()``), calls it once for EVERY
demuxed video packet, in demux (decode) order, before the packet is decoded, on the source's
reading thread. The callback must be quick (copy into a ring, no I/O); an
exception it raises is logged by the source and does not stop the stream.

``EncodedPacket.data`` is the packet's payload as the demuxer gave it (for
RTSP and MP4/Matroska inputs: length-prefixed or Annex B NAL units exactly as
demuxed; parameter sets may also live in ``StreamInfo.extradata``).
``pts``/``dts`` are in ``time_base`` units (``None`` when the container gave
none). ``wall_time`` is the epoch-seconds time the packet maps to, on the same
clock as the sampled frames' timestamps (for a file read faster than real time
it is the file's start time plus the packet's media time, like the frames).

``StreamInfo`` describes the video stream once the source has opened it
(``source.stream_info``; ``None`` before opening and for the OpenCV fallback,
which has no packets). After a reconnect a new ``StreamInfo`` may apply: a
consumer compares it with the one it holds and starts over on a change. The
first packet after a (re)connect that a consumer can decode from is the first
with ``is_keyframe`` set.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Protocol

Codec = Literal["h264", "hevc"]


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One demuxed video packet of a camera's stream."""

    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    is_keyframe: bool
    wall_time: float


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a consumer needs to remux or decode a camera's packets."""

    codec: str  # 'h264' | 'hevc' (others pass through as the demuxer names them)
    width: int
    height: int
    time_base: Fraction
    extradata: bytes | None
    average_rate: Fraction | None


class PacketSink(Protocol):
    """The ``on_packet`` callback a source accepts."""

    def __call__(self, packet: EncodedPacket) -> None: ...
