"""Clips: frames streamed into an ffmpeg subprocess at a constant frame rate.

The writer starts when a hit opens (pre-roll from the camera's ring buffer) and is fed the ring's
new frames until ``post_s`` after first seen; a writer thread feeds ffmpeg as frames arrive (the
queue holds references to the ring's frames, no copies), so neither memory nor the caller waits for
the encoder. Output plays in Chromium's ``<video>``: H.264 (yuv420p, ``+faststart``)
in MP4, or VP9 in WebM.

Frames arrive at irregular times (the ring keeps at most ``ring_fps`` a second, streams stall): the
writer resamples to ``fps`` by media time, repeating the latest frame at each tick, so the clip's
duration is the real time it covers.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Push:
    """A frame for the writer thread."""

    image: npt.NDArray[np.uint8]
    mono: float


@dataclass(frozen=True, slots=True)
class _End:
    """Write through ``mono`` (``None``: the last frame), then close ffmpeg's input."""

    mono: float | None


@dataclass(frozen=True, slots=True)
class _Abort:
    """Stop at once."""


_Message = _Push | _End | _Abort


class ClipWriter:
    """One clip being encoded. ``push`` frames in media-time order, then ``finish`` (or ``abort``).

    ``push`` only queues the frame (a reference: frames are not modified after decoding); a writer
    thread resamples and feeds ffmpeg, so the caller (the pipeline's inference thread) never waits
    for the encoder. ``done`` says when the file is complete; ``wait`` blocks until it is."""

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
        self.last_mono: float | None = None  # the caller's side: the last frame pushed
        self._last: npt.NDArray[np.uint8] | None = None  # the writer thread's side
        self._last_mono = 0.0
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
            self._stderr.close()
            raise EvidenceError(f"cannot start ffmpeg: {exc}") from exc
        self.finished = False
        self.failed: str | None = None
        self._aborted = False
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=f"clip {path.name}", daemon=True)
        self._thread.start()

    # -- the caller's side ---------------------------------------------------------------------

    def push(self, image: npt.NDArray[np.uint8], mono: float) -> None:
        """Add a frame taken at media time ``mono``; frames at or before the last one are ignored."""
        if self.finished or (self.last_mono is not None and mono <= self.last_mono):
            return
        self.frames_in += 1
        self.last_mono = mono
        self._queue.put(_Push(image, mono))

    def finish(self, end_mono: float | None = None) -> None:
        """Write through ``end_mono`` (default: the last frame) and close ffmpeg's input."""
        if self.finished:
            return
        self.finished = True
        self._queue.put(_End(end_mono))

    @property
    def done(self) -> bool:
        """Whether the clip is complete (``wait`` will not block)."""
        return (
            self.finished
            and not self._thread.is_alive()
            and (self._proc is None or self._proc.poll() is not None)
        )

    def wait(self, timeout: float = 60.0) -> Path:
        """Wait for the writer and ffmpeg; return the clip's path. Raises :class:`EvidenceError`."""
        self.finish()
        self._thread.join(timeout)
        proc = self._proc
        if proc is None or self._aborted:
            raise EvidenceError("clip was aborted")
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.abort()
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
    def duration_s(self) -> float:
        return self.ticks_out / self.fps

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial clip."""
        self.finished = True
        self._aborted = True
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()  # unblocks a writer thread stuck in a pipe write
        self._queue.put(_Abort())
        self._thread.join(10.0)
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            proc.wait()
        if not self._stderr.closed:
            self._stderr.close()
        self.path.unlink(missing_ok=True)

    # -- the writer thread ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            message = self._queue.get()
            if isinstance(message, _Abort) or self._aborted:
                return
            if isinstance(message, _Push):
                mono = message.mono
                if self._last is None and mono > self.start_mono:
                    self.start_mono = mono  # nothing before start: the first frame stands in
                self._emit_until(mono)
                self._last = self._fit(message.image)
                self._last_mono = mono
            else:  # end
                if self._last is not None:
                    end = self._last_mono if message.mono is None else message.mono
                    self._emit_until(end + 1e-6)
                    if self.ticks_out == 0:
                        self._write(self._last)
                self._last = None
                proc = self._proc
                if proc is not None and proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
                return

    def _write(self, image: npt.NDArray[np.uint8]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or self.failed:
            return
        try:
            proc.stdin.write(image.data)
        except (BrokenPipeError, ValueError, OSError) as exc:
            self.failed = f"ffmpeg stopped taking frames: {exc}"
        self.ticks_out += 1

    def _fit(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        w, h = self.size_wh
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.shape[0] != h or image.shape[1] != w:
            if 0 <= image.shape[0] - h < 2 and 0 <= image.shape[1] - w < 2:
                image = image[:h, :w]
            else:
                image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(image)

    def _emit_until(self, mono: float) -> None:
        """Write the latest frame at every tick strictly before ``mono``."""
        if self._last is None:
            return
        while self.start_mono + self.ticks_out / self.fps < mono - 1e-6:
            self._write(self._last)
