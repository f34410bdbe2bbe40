"""Small real H.264 / H.265 files (ffmpeg from OpenCV's vtest.avi, a group of pictures every 50
frames) and their packets as a PyAV camera source hands them on (:class:`EncodedPacket`)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from detector.events import Frame
from detector.video.packets import EncodedPacket, StreamInfo

ROOT = Path(__file__).resolve().parents[2]
VTEST = ROOT / "data/opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi"
GOP = 50
EPOCH = 1_800_000_000.0  # the wall time of the file's first frame
_ENCODERS = {
    "h264": ["-c:v", "libx264", "-preset", "veryfast", "-g", str(GOP), "-keyint_min", str(GOP),
             "-sc_threshold", "0", "-bf", "0"],
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params",
             f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:log-level=error"],
}  # fmt: skip


def make_media(folder: Path, codec: str, seconds: float = 20.0, *, bframes: int = 0) -> Path:
    """``folder``/``codec``.mp4: the first ``seconds`` of vtest.avi (768x576, 10 fps) in ``codec``
    (H.264 with ``bframes`` B-frames between references)."""
    out = folder / (f"{codec}.mp4" if not bframes else f"{codec}-bf{bframes}.mp4")
    encoder = [*_ENCODERS[codec][:-1], str(bframes)] if codec == "h264" else _ENCODERS[codec]
    if not out.exists():
        ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
        cmd = [ffmpeg, "-v", "error", "-y", "-i", str(VTEST), "-t", f"{seconds:g}", *encoder,
               "-pix_fmt", "yuv420p", "-an", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
    return out


def demux(path: Path, epoch: float = EPOCH) -> tuple[StreamInfo, list[EncodedPacket]]:
    """The file's stream and its video packets, stamped ``epoch`` + media time like a file source."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        tb = Fraction(stream.time_base or Fraction(1, 90000))
        info = StreamInfo(
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            time_base=tb,
            extradata=bytes(ctx.extradata) if ctx.extradata else None,
            average_rate=Fraction(stream.average_rate) if stream.average_rate else None,
        )
        packets = [
            EncodedPacket(
                data=bytes(p),
                pts=p.pts,
                dts=p.dts,
                time_base=tb,
                is_keyframe=p.is_keyframe,
                wall_time=epoch + float((p.pts or 0) * tb),
            )
            for p in container.demux(stream)
            if p.size
        ]
    return info, packets


def decode_all(path: Path) -> list[Any]:
    """Every frame of the file, BGR, in display order."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


class EncodedCamera:
    """A camera whose source hands on its packets, fed to an evidence sink the way the pipeline
    does: every packet into ``ring`` (the source's ``on_packet``), every decoded frame a
    :class:`Frame` (media time from 100 s, UTC on the packets' clock), every ``sample_every``-th a
    sample. ``run`` advances; ``event`` sends a hit event on the latest frame."""

    def __init__(self, sink: Any, path: Path, ring: Any, *, t0: dt.datetime, sample_every: int = 2) -> None:
        self.sink, self.ring, self.t0, self.sample_every = sink, ring, t0, sample_every
        self.info, self.packets = demux(path, epoch=(t0 + dt.timedelta(seconds=100)).timestamp())
        self.frames = decode_all(path)
        self.index = 0
        self.pushed = 0
        self.recent: list[Frame] = []

    def frame_at(self, i: int) -> Frame:
        mono = 100.0 + i / 10.0
        return Frame("cam-01", i, self.frames[i], self.t0 + dt.timedelta(seconds=mono), mono)

    def run(self, seconds: float) -> Frame:
        last = None
        for _ in range(round(seconds * 10)):
            frame = self.frame_at(self.index)
            while (
                self.pushed < len(self.packets)
                and self.packets[self.pushed].wall_time <= frame.utc.timestamp() + 1e-6
            ):
                self.ring(self.packets[self.pushed])
                self.pushed += 1
            self.recent = [*self.recent[-20:], frame]
            if self.index % self.sample_every == 0:
                self.sink.on_sample(frame, lambda: list(self.recent))
            self.index += 1
            last = frame
        assert last is not None
        return last
