"""Clips: frames streamed into an ffmpeg subprocess at a constant frame rate.

The writer starts when a hit opens (pre-roll from the camera's ring buffer) and is fed the ring's
new frames until ``post_s`` after first seen; ffmpeg encodes as frames arrive, so no more than one
frame is held in memory. Output plays in Chromium's ``<video>``: H.264 (yuv420p, ``+faststart``)
in MP4, or VP9 in WebM.

Frames arrive at irregular times (the ring keeps at most ``ring_fps`` a second, streams stall): the
writer resamples to ``fps`` by media time, repeating the latest frame at each tick, so the clip's
duration is the real time it covers.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Literal

import cv2
import numpy as np
import numpy.typing as npt

from detector.errors import EvidenceError

log = logging.getLogger(__name__)

Codec = Literal["h264", "vp9"]
CLIP_EXT: dict[str, tuple[str, str]] = {"h264": (".mp4", "video/mp4"), "vp9": (".webm", "video/webm")}


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise EvidenceError("ffmpeg is not installed (apt-get install ffmpeg): clips cannot be encoded")
    return path


def _codec_args(codec: Codec) -> list[str]:
    if codec == "h264":
        return [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ]
    return ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "36",
            "-pix_fmt", "yuv420p", "-f", "webm"]  # fmt: skip


class ClipWriter:
    """One clip being encoded. ``push`` frames in media-time order, then ``finish`` (or ``abort``)."""

    def __init__(
        self,
        path: Path,
        *,
        start_mono: float,
        fps: float,
        frame_hw: tuple[int, int],
        codec: Codec = "h264",
        threads: int = 1,
    ) -> None:
        self.path = path
        self.start_mono = start_mono
        self.fps = fps
        h, w = frame_hw
        # yuv420p needs even sides
        self.size_wh = (w - w % 2, h - h % 2)
        self.codec: Codec = codec
        self.frames_in = 0
        self.ticks_out = 0
        self.last_mono: float | None = None
        self._last: npt.NDArray[np.uint8] | None = None
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in wait/abort)
        cmd = [
            ffmpeg_path(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-s",
            f"{self.size_wh[0]}x{self.size_wh[1]}",
            "-r",
            f"{fps:g}",
            "-i",
            "pipe:0",
            "-an",
            "-threads",
            str(threads),
            *_codec_args(codec),
            str(path),
        ]
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
            )
        except OSError as exc:
            raise EvidenceError(f"cannot start ffmpeg: {exc}") from exc
        self.finished = False
        self.failed: str | None = None

    @property
    def covered_until(self) -> float:
        """Media time up to which frames have been written."""
        return self.start_mono + self.ticks_out / self.fps

    def _write(self, image: npt.NDArray[np.uint8]) -> None:
        if self._proc is None or self._proc.stdin is None or self.failed:
            return
        try:
            self._proc.stdin.write(image.data)
        except (BrokenPipeError, ValueError, OSError) as exc:
            self.failed = f"ffmpeg stopped taking frames: {exc}"
        self.ticks_out += 1

    def _fit(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        w, h = self.size_wh
        if image.shape[0] != h or image.shape[1] != w:
            if (
                image.shape[0] >= h
                and image.shape[1] >= w
                and image.shape[0] - h < 2
                and image.shape[1] - w < 2
            ):
                image = image[:h, :w]
            else:
                image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return np.ascontiguousarray(image)

    def _emit_until(self, mono: float) -> None:
        """Write the latest frame at every tick strictly before ``mono``."""
        if self._last is None:
            return
        while self.start_mono + self.ticks_out / self.fps < mono - 1e-6:
            self._write(self._last)

    def push(self, image: npt.NDArray[np.uint8], mono: float) -> None:
        """Add a frame taken at media time ``mono``; frames at or before the last one are ignored."""
        if self.finished or (self.last_mono is not None and mono <= self.last_mono):
            return
        self.frames_in += 1
        if self._last is None and mono > self.start_mono:
            # nothing before start: the first frame stands in from the start
            self.start_mono = mono
        self._emit_until(mono)
        self._last = self._fit(image)
        self.last_mono = mono

    def finish(self, end_mono: float | None = None) -> None:
        """Write through ``end_mono`` (default: the last frame) and close ffmpeg's input."""
        if self.finished:
            return
        if self._last is not None:
            end = self.last_mono if end_mono is None else end_mono
            assert end is not None
            self._emit_until(end + 1e-6)
            if self.ticks_out == 0:
                self._write(self._last)
        self._last = None
        self.finished = True
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def wait(self, timeout: float = 60.0) -> Path:
        """Wait for ffmpeg; return the clip's path. Raises :class:`EvidenceError` if it failed."""
        self.finish()
        proc = self._proc
        if proc is None:
            raise EvidenceError("clip was aborted")
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.wait()
            raise EvidenceError(f"ffmpeg did not finish the clip within {timeout:g} s") from exc
        self._stderr.seek(0)
        err = self._stderr.read().decode("utf-8", "replace").strip()
        self._stderr.close()
        self._proc = None
        if self.failed or rc != 0 or self.ticks_out == 0:
            raise EvidenceError(
                f"clip encoding failed (ffmpeg exit {rc}): {self.failed or err or 'no frames'}"[:500]
            )
        return self.path

    @property
    def done(self) -> bool:
        """Whether ffmpeg has exited (``wait`` will not block)."""
        return self._proc is None or self._proc.poll() is not None

    @property
    def duration_s(self) -> float:
        return self.ticks_out / self.fps

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial clip."""
        self.finished = True
        self._last = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            proc.kill()
            proc.wait()
        self._stderr.close()
        self.path.unlink(missing_ok=True)
