"""Clips in the encoded domain: the camera's own packets, remuxed into MP4 (no re-encode).

When the camera's source hands on its packets (PyAV, :mod:`detector.video.packets`), the evidence
packager records a hit's clip with an :class:`EncodedClipWriter` instead of a
:class:`~detector.evidence.clip.ClipWriter`: at ``opened`` it takes the camera's
:class:`~detector.video.ring.PacketRing` from the key frame before ``clip_pre_s`` ahead of first
seen; at every sample it takes the packets that came since (:meth:`EncodedClipWriter.pull`) until
``clip_post_s`` after first seen; then a thread remuxes them (:func:`~detector.video.remux.remux_mp4`,
milliseconds) and, for H.265, makes the small H.264 browser preview
(:func:`~detector.video.remux.h264_preview`), which the package carries beside the original.

Times: the packets carry wall-clock times (``EncodedPacket.wall_time``, on the frames' UTC clock);
the packager works in the frames' media time (``Frame.mono``). ``mono_offset`` (a frame's UTC time
minus its media time) maps one onto the other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from detector.errors import EvidenceError
from detector.video.packets import EncodedPacket, StreamInfo
from detector.video.remux import RemuxResult, h264_preview, remux_mp4
from detector.video.ring import PacketRing

if TYPE_CHECKING:
    from prometheus_client import Gauge

    from detector.video.reader import CameraReader


class EncodedClipWriter:
    """One clip being collected from a camera's packet ring; the interface of
    :class:`~detector.evidence.clip.ClipWriter` (``finish``, ``done``, ``wait``, ``abort``) with
    :meth:`pull` in place of ``push``."""

    def __init__(
        self,
        path: Path,
        ring: PacketRing,
        *,
        start_mono: float,
        end_mono: float,
        mono_offset: float,
        preview: bool | None = None,
    ) -> None:
        self.path = path
        self.ring = ring
        self.start_mono = start_mono
        self.end_mono = end_mono
        self.mono_offset = mono_offset
        snap = ring.snapshot(since_wall=start_mono + mono_offset)
        if snap.info is None or not snap.packets:
            raise EvidenceError(f"camera {ring.camera_id}: the packet ring holds no decodable packets yet")
        self.info: StreamInfo = snap.info
        self.codec = self.info.codec
        self.packets: list[EncodedPacket] = list(snap.packets)
        self._next_seq = snap.next_seq
        self._generation = snap.generation
        self.notes: list[str] = []
        # H.265 plays in few browsers: an H.264 preview goes with it
        self.preview_path: Path | None = (
            path.with_name(f"{path.stem}.preview.mp4")
            if (preview if preview is not None else self.codec == "hevc")
            else None
        )
        self.finished = False
        self.failed: str | None = None
        self.result: RemuxResult | None = None
        self._aborted = False
        self._thread: threading.Thread | None = None

    @property
    def first_mono(self) -> float:
        """Media time of the clip's first packet (a key frame)."""
        return self.packets[0].wall_time - self.mono_offset

    @property
    def last_mono(self) -> float | None:
        return self.packets[-1].wall_time - self.mono_offset if self.packets else None

    def pull(self) -> None:
        """Take the packets the ring got since the last pull (the inference thread); finish at the
        clip's end, at a gap (the ring dropped packets not yet taken) or a new stream."""
        if self.finished:
            return
        snap = self.ring.since(self._next_seq)
        if snap.info != self.info or snap.generation != self._generation:
            self.notes.append(
                "clip: the camera's stream changed or restarted (a reconnect); the clip ends there"
            )
            self.finish()
            return
        if snap.lost:
            self.notes.append("clip: packets were lost (the ring overran); the clip ends at the gap")
            self.finish()
            return
        self._next_seq = snap.next_seq
        self.packets += snap.packets
        last = self.last_mono
        if last is not None and last >= self.end_mono:
            self.finish(self.end_mono)

    def finish(self, end_mono: float | None = None) -> None:
        """Cut the clip at ``end_mono`` (default: the last packet) and remux it (a thread)."""
        if self.finished:
            return
        self.finished = True
        if end_mono is not None:
            # through the last packet (decode order) shown by the end: with B-frames the frames it
            # refers to that are shown later stay too, so that nothing kept is undecodable
            end_wall = end_mono + self.mono_offset + 1e-6
            last = max((i for i, p in enumerate(self.packets) if p.wall_time <= end_wall), default=0)
            self.packets = self.packets[: last + 1]
        self._thread = threading.Thread(target=self._work, name=f"remux {self.path.name}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            self.result = remux_mp4(self.info, self.packets, self.path)
        except EvidenceError as exc:
            self.failed = str(exc)
            return
        if self.preview_path is not None and not self._aborted:
            try:
                h264_preview(self.path, self.preview_path)
            except EvidenceError as exc:  # the original is the evidence; it goes without a preview
                self.notes.append(str(exc))
                self.preview_path = None

    @property
    def done(self) -> bool:
        return self.finished and self._thread is not None and not self._thread.is_alive()

    @property
    def duration_s(self) -> float:
        return self.result.duration_s if self.result is not None else 0.0

    def wait(self, timeout: float = 60.0) -> Path:
        """Wait for the remux (and the preview); return the clip's path. Raises :class:`EvidenceError`."""
        self.finish()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise EvidenceError(f"the clip was not remuxed within {timeout:g} s")
        if self._aborted:
            raise EvidenceError("clip was aborted")
        if self.failed or self.result is None:
            raise EvidenceError(self.failed or "clip: nothing was remuxed")
        return self.path

    def abort(self) -> None:
        """Stop and delete the partial clip (and preview)."""
        self._aborted = True
        self.finished = True
        if self._thread is not None:
            self._thread.join(30.0)
        self.path.unlink(missing_ok=True)
        if self.preview_path is not None:
            self.preview_path.unlink(missing_ok=True)


def record_packets(sinks: Iterable[object], reader: CameraReader, gauge: Gauge | None = None) -> bool:
    """Give a PyAV camera's packets to the evidence packager among ``sinks`` (its clips are then the
    camera's own bitstream, remuxed); False when there is no packager or the reader is OpenCV's."""
    from detector.evidence.packager import EvidencePackager

    packager = next((s for s in sinks if isinstance(s, EvidencePackager)), None)
    if packager is None or reader.backend != "pyav":
        return False
    reader.on_packet = packager.open_packet_ring(reader.camera_id, lambda: reader.stream_info, gauge)
    return True
