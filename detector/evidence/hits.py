"""What the packager keeps of a hit (:mod:`detector.evidence.packager`) until its packages are written.

- :class:`OpenHit`: a hit from ``opened`` until its violation package is frozen: the first-seen
  frame, the sample kept as the *between* still, the provisional clip fed from the camera's ring
  buffer, the track, and the notes that go into the manifest;
- :class:`PackagedHit`: a hit whose violation package was frozen, with what its ``still_present``
  packages need (its place, its rule, the track since its last package).

Frames kept here are copies (:func:`own`): the pipeline may reuse its buffers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from detector.config import Camera, EvidenceSettings, Rule, Zone
from detector.detections import Detections
from detector.errors import EvidenceError
from detector.events import Frame, HitEvent, RingSnapshot
from detector.evidence.clip import CLIP_EXT, ClipWriter
from detector.evidence.encoded_clip import EncodedClipWriter
from detector.evidence.files import PackageFile
from detector.video.ring import PacketRing
from detector.video.stills import decode_at
from nce.manifest import ClipInfo, StillMoment, TrackPoint, utc_ms

Box = tuple[float, float, float, float]
MAX_TRACK_POINTS = 500


def own(frame: Frame) -> Frame:
    """A frame whose pixels the packager owns (the pipeline may reuse its buffers)."""
    return replace(frame, image=frame.image.copy())


def _track_point(track: list[TrackPoint], event: HitEvent) -> None:
    if len(track) < MAX_TRACK_POINTS:
        track.append(TrackPoint(t=utc_ms(event.ts), box=event.box, score=event.score))


@dataclass
class OpenHit:
    """A hit from ``opened`` until its violation package is frozen."""

    opened: HitEvent
    camera: Camera
    zone: Zone
    rule: Rule | None
    first: Frame
    first_box: Box
    between: Frame | None = None
    between_target: float | None = None
    clip: ClipWriter | EncodedClipWriter | None = None
    clip_end: float = 0.0
    notes: list[str] = field(default_factory=list)
    track: list[TrackPoint] = field(default_factory=list)
    confirmed: tuple[HitEvent, Frame, Detections] | None = None
    packaged: bool = False
    first_in_clip: bool = False  # the first-seen frame's pixels are decoded from the clip's packets

    def keep_first(self, frame: Frame) -> None:
        """Keep the first-seen frame: a copy of its pixels, or, when the clip is the camera's
        bitstream (which holds that frame), nothing of them until the stills are made."""
        if isinstance(self.clip, EncodedClipWriter):
            self.first = replace(frame, image=np.zeros((0, 0, 3), np.uint8))
            self.first_in_clip = True
        else:
            self.first = own(frame)

    def _first_from_clip(self) -> Frame | None:
        """The first-seen frame decoded from the clip's packets (``None``, with a note, if it cannot be)."""
        clip = self.clip
        if not isinstance(clip, EncodedClipWriter):
            self.notes.append("stills: the first-seen frame was not kept")
            return None
        try:
            (still,) = decode_at(clip.info, clip.packets, [self.first.utc.timestamp()])
        except EvidenceError as exc:
            self.notes.append(f"stills: the first-seen frame could not be decoded from the clip: {exc}")
            return None
        return replace(self.first, image=still.image)

    def add_track(self, event: HitEvent) -> None:
        _track_point(self.track, event)

    @property
    def recording(self) -> bool:
        """Whether its clip is still taking frames."""
        return self.clip is not None and not self.clip.finished

    def start_clip(
        self,
        settings: EvidenceSettings,
        tmp_dir: Path,
        serial: int,
        frame: Frame,
        ring: RingSnapshot,
        packets: PacketRing | None = None,
    ) -> None:
        """Start the provisional clip ``clip_pre_s`` before ``frame`` (the first seen): from the
        camera's packet ring when its source hands on packets (the camera's bitstream, remuxed),
        else from the ring buffer of decoded frames (encoded here); a note says how much pre-roll
        the ring held when it held less."""
        s = settings
        stem = f"clip-{serial}-{os.getpid()}-{id(self):x}"
        self.clip_end = frame.mono + s.clip_post_s
        if packets is not None:
            try:
                encoded = EncodedClipWriter(
                    tmp_dir / f"{stem}.mp4",
                    packets,
                    start_mono=frame.mono - s.clip_pre_s,
                    end_mono=self.clip_end,
                    mono_offset=frame.utc.timestamp() - frame.mono,
                )
            except EvidenceError as exc:
                self.notes.append(f"{exc}: the clip is encoded from decoded frames")
            else:
                self.clip = encoded
                if encoded.first_mono > encoded.start_mono + 0.5:
                    self.notes.append(
                        f"clip: pre-roll {max(0.0, frame.mono - encoded.first_mono):.1f} s of the "
                        f"{s.clip_pre_s:g} s asked for (the packet ring held no more)"
                    )
                encoded.pull()
                return
        ext, _mime = CLIP_EXT[s.clip_codec]
        clip = ClipWriter(
            tmp_dir / f"{stem}{ext}",
            start_mono=frame.mono - s.clip_pre_s,
            fps=s.clip_fps,
            frame_hw=frame.shape_hw,
            codec=s.clip_codec,
        )
        self.clip = clip
        recent = sorted(ring(), key=lambda f: f.mono)
        before = [f for f in recent if f.mono <= clip.start_mono]
        frames = before[-1:] + [f for f in recent if f.mono > clip.start_mono]
        earliest = frames[0].mono if frames else frame.mono
        if earliest > clip.start_mono + 1.0 / s.clip_fps:
            self.notes.append(
                f"clip: pre-roll {max(0.0, frame.mono - earliest):.1f} s of the {s.clip_pre_s:g} s "
                "asked for (the ring buffer held no more)"
            )
        self.feed([*frames, frame])

    def feed(self, frames: Sequence[Frame]) -> None:
        """Push the frames newer than the clip's last one; finish the clip at its end."""
        clip = self.clip
        if clip is None or clip.finished:
            return
        if isinstance(clip, EncodedClipWriter):
            clip.pull()  # it finishes itself at the clip's end
            return
        for f in frames:
            if clip.last_mono is None or f.mono > clip.last_mono:
                clip.push(f.image, f.mono)
        if clip.last_mono is not None and clip.last_mono >= self.clip_end:
            clip.finish(self.clip_end)

    def offer_between(self, frame: Frame) -> None:
        """Keep ``frame`` as the *between* still if it is nearer the middle of the dwell than the one
        kept (before the hit confirms)."""
        target = self.between_target
        if self.confirmed is not None or target is None:
            return
        best = self.between
        closer = best is None or abs(frame.mono - target) < abs(best.mono - target)
        if closer and frame.mono > self.first.mono:
            self.between = own(frame)

    def moments(self, frame: Frame, event: HitEvent) -> list[tuple[StillMoment, Frame, Box | None]]:
        """The stills of the violation package: first seen, between (when one was kept strictly
        between first seen and ``frame``), confirmed."""
        between = self.between
        if between is None or not self.first.mono < between.mono < frame.mono:
            self.notes.append("stills: no sample between first seen and confirmed was kept")
            between = None
        first = self._first_from_clip() if self.first_in_clip else self.first
        moments: list[tuple[StillMoment, Frame, Box | None]] = []
        if first is not None:
            moments.append(("first_seen", first, self.first_box))
        if between is not None:
            moments.append(("between", between, None))
        moments.append(("confirmed", frame, event.box))
        return moments

    def clip_files(self, settings: EvidenceSettings) -> tuple[list[PackageFile], ClipInfo | None]:
        """The finished clip as package files (waiting for ffmpeg or the remux) and, for a clip of
        the camera's bitstream, its manifest entry; none with a note when there is none or it
        failed; a clip shorter than asked for gets a note of its length."""
        clip = self.clip
        if clip is None:
            return [], None
        try:
            path = clip.wait()
        except EvidenceError as exc:
            self.notes.append(f"clip: {exc}")
            clip.abort()
            return [], None
        if clip.duration_s + 1e-6 < settings.clip_pre_s + settings.clip_post_s:
            self.notes.append(f"clip: {clip.duration_s:.1f} s long")
        if not isinstance(clip, EncodedClipWriter):
            ext, mime = CLIP_EXT[clip.codec]
            return [PackageFile(f"clip{ext}", "clip", mime, path=path)], None
        self.notes += clip.notes
        files = [PackageFile("clip.mp4", "clip", "video/mp4", path=path)]
        preview = None
        if clip.preview_path is not None:
            preview = "clip.preview.mp4"
            files.append(PackageFile(preview, "clip_preview", "video/mp4", path=clip.preview_path))
        return files, ClipInfo(file="clip.mp4", codec=clip.codec, source="camera_bitstream", preview=preview)


@dataclass
class PackagedHit:
    """A hit whose violation package was frozen: what its ``still_present`` packages need."""

    camera: Camera
    zone: Zone
    rule: Rule | None
    confirmed_at: str
    last_mono: float  # frame time of its last package (the violation package at first)
    track: list[TrackPoint] = field(default_factory=list)  # since that package

    def add_track(self, event: HitEvent) -> None:
        _track_point(self.track, event)
