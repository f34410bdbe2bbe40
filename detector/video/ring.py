"""The encoded pre-roll: a camera's last seconds of *packets*, for evidence clips and stills.

A :class:`PacketRing` is the ``on_packet`` callback of a PyAV camera source
(:mod:`detector.video.packets`): the source's reading thread pushes every demuxed video packet; the
evidence packager (the inference thread) takes a :meth:`~PacketRing.snapshot` when a hit opens and
then the packets that came since (:meth:`~PacketRing.since`) until the clip's post-roll is complete.

What it keeps:

- always a whole group of pictures: the ring starts at a key frame (packets before the first key
  frame after a (re)connect or a change of stream are dropped: nothing could decode them);
- the last ``keep_s`` seconds of wall time, from the key frame *before* the window's start (so a
  clip of the window can start there and decode);
- one timeline: a packet whose decoding time is not after the previous one's (the stream restarted
  with the same parameters) starts the ring over, like a new stream;
- at most ``max_bytes``, a hard cap (:func:`preroll_cap_bytes`: the highest bitrate expected over
  the window plus one group of pictures). Over the cap whole groups of pictures go, oldest first;
  a single group larger than the cap is dropped whole and the ring waits for the next key frame.

Compared with a ring of decoded frames (``ReaderOptions.ring_max_mb``, 6.2 MB per 1080p frame) the
encoded ring of a 4 Mbit/s camera holds 7 s in about 3.5 MB. ``nce_preroll_bytes{camera}`` shows
its size (``gauge``).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from detector.video.packets import EncodedPacket, StreamInfo

MAX_BITRATE_BPS = 16_000_000  # a 4K main stream at a high setting; 1080p cameras send 2-8 Mbit/s
MAX_GOP_S = 10.0  # the longest group of pictures a camera is expected to send (seconds)


class Gauge(Protocol):
    """Where the ring reports its size (a ``prometheus_client`` gauge's labelled child)."""

    def set(self, value: float) -> None: ...


def preroll_cap_bytes(
    keep_s: float, max_bitrate_bps: float = MAX_BITRATE_BPS, gop_s: float = MAX_GOP_S
) -> int:
    """The hard byte cap of a ring keeping ``keep_s`` seconds: ``keep_s`` plus one group of
    pictures (kept from the key frame before the window) at ``max_bitrate_bps``."""
    return int(max_bitrate_bps / 8.0 * (keep_s + gop_s))


@dataclass(frozen=True, slots=True)
class PacketSnapshot:
    """Packets taken from a ring: ``packets[i]`` has sequence number ``first_seq + i``; ``next_seq``
    is the number the ring's next packet will have (where :meth:`PacketRing.since` goes on)."""

    info: StreamInfo | None
    packets: tuple[EncodedPacket, ...]
    first_seq: int
    next_seq: int
    lost: bool = False  # packets between the asked-for sequence number and ``first_seq`` are gone
    generation: int = 0  # one more each time the ring started over (a new or restarted stream)


class PacketRing:
    """A camera's encoded pre-roll; see the module docstring. Thread-safe: ``push`` (``__call__``)
    from the source's thread, ``snapshot``/``since`` from any other."""

    def __init__(
        self,
        camera_id: str,
        keep_s: float,
        *,
        max_bytes: int | None = None,
        stream_info: Callable[[], StreamInfo | None] | None = None,
        gauge: Gauge | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.keep_s = keep_s
        self.max_bytes = max_bytes if max_bytes is not None else preroll_cap_bytes(keep_s)
        self._stream_info = stream_info
        self._gauge = gauge
        self._lock = threading.Lock()
        self._packets: deque[EncodedPacket] = deque()
        self._keys: deque[int] = deque()  # sequence numbers of the key frames in the ring
        self._first_seq = 0  # sequence number of _packets[0]
        self._next_seq = 0
        self._bytes = 0
        self._info: StreamInfo | None = None
        self._last_dts: Fraction | None = None  # seconds: a stream that goes back in time starts over
        self.dropped_groups = 0  # groups of pictures dropped for the byte cap
        self.generation = 0  # one more each time the ring starts over with a new or restarted stream

    # -- the source's side ---------------------------------------------------------------------

    def __call__(self, packet: EncodedPacket) -> None:
        self.push(packet)

    def push(self, packet: EncodedPacket) -> None:
        """Add the next demuxed packet (decode order)."""
        info = self._stream_info() if self._stream_info is not None else None
        with self._lock:
            if info is not None and info != self._info:
                self._clear()  # a new stream after a reconnect: the old packets cannot mix with it
                self.generation += 1
                self._info = info
            dts = packet.dts if packet.dts is not None else packet.pts
            at = dts * packet.time_base if dts is not None else None
            if at is not None and self._last_dts is not None and at <= self._last_dts:
                self._clear()  # the same stream restarted (a reconnect): its timestamps start over
                self.generation += 1
            self._last_dts = at if at is not None else self._last_dts
            if not self._packets and not packet.is_keyframe:
                self._next_seq += 1  # undecodable without the key frame before it
                self._first_seq = self._next_seq
                return
            seq = self._next_seq
            self._next_seq += 1
            self._packets.append(packet)
            if packet.is_keyframe:
                self._keys.append(seq)
            self._bytes += len(packet.data)
            self._trim(packet.wall_time)
            size = self._bytes
        if self._gauge is not None:
            self._gauge.set(size)

    def _clear(self) -> None:
        self._packets.clear()
        self._keys.clear()
        self._bytes = 0
        self._first_seq = self._next_seq

    def _drop_to(self, seq: int) -> None:
        """Drop the packets before sequence number ``seq`` (a key frame's)."""
        while self._first_seq < seq and self._packets:
            self._bytes -= len(self._packets.popleft().data)
            self._first_seq += 1
        while self._keys and self._keys[0] < seq:
            self._keys.popleft()

    def _trim(self, newest: float) -> None:
        start = newest - self.keep_s
        # keep from the last key frame at or before the window's start
        while len(self._keys) >= 2 and self._packets[self._keys[1] - self._first_seq].wall_time <= start:
            self._drop_to(self._keys[1])
        while self._bytes > self.max_bytes:
            self.dropped_groups += 1
            if len(self._keys) >= 2:
                self._drop_to(self._keys[1])
            else:  # one group of pictures over the cap: nothing of it can stay decodable
                self._clear()
                break

    # -- the consumer's side -------------------------------------------------------------------

    @property
    def info(self) -> StreamInfo | None:
        """The stream the packets belong to (``None``: the source gave none yet)."""
        with self._lock:
            return self._info

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._packets)

    def span_s(self) -> float:
        """Wall-clock seconds from the first packet to the last."""
        with self._lock:
            if not self._packets:
                return 0.0
            return self._packets[-1].wall_time - self._packets[0].wall_time

    def snapshot(self, since_wall: float | None = None) -> PacketSnapshot:
        """The packets from the last key frame at or before ``since_wall`` (the first key frame in
        the ring when it holds none that early; ``None``: all of them)."""
        with self._lock:
            start = self._first_seq
            if since_wall is not None:
                for seq in self._keys:
                    if self._packets[seq - self._first_seq].wall_time <= since_wall:
                        start = seq
                    else:
                        break
            packets = tuple(itertools.islice(self._packets, start - self._first_seq, None))
            return PacketSnapshot(self._info, packets, start, self._next_seq, generation=self.generation)

    def since(self, seq: int) -> PacketSnapshot:
        """The packets from sequence number ``seq`` on (``lost``: some of them are gone already)."""
        with self._lock:
            start = max(seq, self._first_seq)
            packets = tuple(itertools.islice(self._packets, start - self._first_seq, None))
            return PacketSnapshot(
                self._info, packets, start, self._next_seq, lost=start > seq, generation=self.generation
            )
