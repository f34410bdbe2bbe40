"""Camera sources: one reader thread per camera (RTSP or a video file).

A :class:`CameraReader` decodes continuously and keeps

- the newest frame only (:meth:`~CameraReader.latest`), never a growing queue (every frame is
  decoded; only those due as a sample or for the ring are converted to BGR);
- a ring buffer of the last ``ring_s`` seconds (at most ``ring_fps`` frames a second and
  ``ring_max_mb`` of pictures) for pre-roll evidence (:meth:`~CameraReader.ring`);
- one pending *sample* at the camera's ``detect_fps`` (:meth:`~CameraReader.take_sample`). Live
  streams replace an untaken sample with a newer one; a file read with ``lossless=True`` (``nce run
  --until-eof``) waits until its sample is taken, so every sample is inferred and the run is
  deterministic and as fast as the model allows.

Frames are stamped with UTC wall time and a monotonic time. For files both follow the media
position (``utc = start + position``), so a file read faster than real time keeps its own timeline;
``start`` is when reading begins for a file played in real time, and that moment minus the file's
duration for one read as fast as possible (``nce run --until-eof``): its last frame is "now", so no
frame, and no package, is dated after it was received.

RTSP is read over TCP through OpenCV's FFmpeg backend, with open and read timeouts. A failed open, a
failed read or a stall (no frame within ``stall_s``) closes the stream and reconnects with
exponential backoff (capped, with jitter); reconnects are counted and every state change is logged
once. Nothing is ever synthesised: no black frames while a stream is down. A file that cannot be
read is reported and its reader ends; the other cameras go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector.config.paths import is_stream
from detector.events import Frame
from detector.metrics import PipelineMetrics

log = logging.getLogger(__name__)

_USERINFO = re.compile(r"(?<=://)[^/@]*@")
_DUE_EPSILON_S = 1e-3  # media times are rounded to milliseconds


class StreamState(StrEnum):
    connecting = "connecting"
    up = "up"
    down = "down"  # failed; retrying with backoff
    eof = "eof"  # a file reached its end
    failed = "failed"  # a file that cannot be read; not retried
    stopped = "stopped"


FINAL_STATES = frozenset({StreamState.eof, StreamState.failed, StreamState.stopped})


@dataclass(frozen=True, kw_only=True)
class ReaderOptions:
    """How a reader buffers, times out and retries."""

    ring_s: float = 10.0
    ring_fps: float = 5.0
    ring_max_mb: float = 256.0  # per camera: 1080p BGR is 6.2 MB a frame (8 s at 5 fps)
    open_timeout_s: float = 10.0
    stall_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_cap_s: float = 30.0
    jitter: float = 0.25
    max_corrupt_in_a_row: int = 25
    # the first frame OpenCV decodes after joining a live H.264 stream has wrong colours (seen with
    # gst-rtsp-server and FFmpeg 7): drop this many after each (re)connect
    settle_frames: int = 1
    # bytes FFmpeg reads from a live stream to learn its format before the first frame (its default,
    # 5 MB, makes every RTSP open take ~3 s, and OpenCV opens one stream at a time: 16 cameras took
    # 48 s to start). A stream whose format this much does not reveal is reopened with the default.
    probe_bytes: int = 32768

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Delay before reconnect number ``failures`` (1, 2, …): doubling, capped, ± jitter."""
        base = min(self.backoff_cap_s, self.backoff_initial_s * 2.0 ** max(failures - 1, 0))
        return float(base * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter))


def redact(source: str) -> str:
    """``rtsp://user:pass@host/x`` → ``rtsp://***@host/x`` (for logs)."""
    return _USERINFO.sub("***@", source)


_CAPTURE_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_USER_CAPTURE_OPTIONS = os.environ.get(_CAPTURE_OPTIONS, "")
# OpenCV reads its FFmpeg options from the environment when a capture opens (and opens one at a time
# anyway): set them and open under one lock, so each reader opens with its own options
_OPEN_LOCK = threading.Lock()


def capture_options(probe_bytes: int) -> str:
    """FFmpeg options for a live stream: RTSP over TCP and a short probe, unless the operator's own
    ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``) already sets them."""
    options = [o for o in _USER_CAPTURE_OPTIONS.split("|") if o]
    keys = {o.split(";", 1)[0] for o in options}
    if "rtsp_transport" not in keys:
        options.append("rtsp_transport;tcp")
    if probe_bytes > 0 and "probesize" not in keys:
        options.append(f"probesize;{probe_bytes}")
    return "|".join(options)


def _valid_image(image: Any) -> bool:
    return (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
    )


class CameraReader:
    """Reads one camera in its own thread. See the module docstring."""

    def __init__(
        self,
        camera_id: str,
        source: str,
        *,
        detect_fps: float,
        realtime: bool = True,
        lossless: bool = False,
        options: ReaderOptions | None = None,
        metrics: PipelineMetrics | None = None,
        on_sample: Callable[[], None] | None = None,
    ) -> None:
        if detect_fps <= 0:
            raise ValueError(f"detect_fps must be > 0, got {detect_fps}")
        self.camera_id = camera_id
        self.source = source
        self.is_live = is_stream(source)
        self.realtime = realtime
        self.lossless = lossless and not self.is_live
        self.options = options or ReaderOptions()
        self.period_s = 1.0 / detect_fps
        self._metrics = metrics
        self._on_sample = on_sample
        self._rng = random.Random()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._pending: Frame | None = None
        self._ring: deque[Frame] = deque()
        self._ring_bytes = 0
        self._next_due: float | None = None
        self._state_lock = threading.Lock()
        self._last_frame_wall = time.monotonic()
        self._short_probe = self.options.probe_bytes > 0
        self.state = StreamState.connecting
        self.state_since = time.time()  # wall clock: when the state last changed (the heartbeat's)
        self.reason = ""
        self.reconnects = 0
        self.ever_up = False
        self.last_problem = ""  # why the stream last went down or failed
        self.frames_decoded = 0
        self.samples_dropped = 0
        self.read_errors = 0
        self._thread = threading.Thread(target=self._run, name=f"reader-{camera_id}", daemon=True)

    # -- public -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end without waiting."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for it (a read blocked in FFmpeg ends at its timeout)."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def finished(self) -> bool:
        """The reader has ended (end of file, unreadable file, stopped) and has no sample left."""
        return self.state in FINAL_STATES and self._pending is None

    def latest(self) -> Frame | None:
        """The newest frame converted (sampled or kept for the ring)."""
        return self._latest

    def ring(self) -> list[Frame]:
        """The recent frames, oldest first."""
        with self._cond:
            return list(self._ring)

    def outcome(self) -> str:
        """How the camera ended, for the run's summary: ``stopped (4 reconnects; never connected:
        cannot open stream rtsp://…)`` — a camera that never gave a frame says so and why."""
        notes = [f"{self.reconnects} reconnects"] if self.reconnects else []
        if not self.ever_up and self.last_problem:
            notes.append(f"never {'connected' if self.is_live else 'opened'}: {self.last_problem}")
        return f"{self.state}" + (f" ({'; '.join(notes)})" if notes else "")

    @property
    def next_due_s(self) -> float:
        """When the next sample is due, on the frames' clock (``time.monotonic()`` for streams)."""
        due = self._next_due
        return float("-inf") if due is None else due

    def pending_mono(self) -> float | None:
        """The time of the sample waiting to be taken, if any."""
        frame = self._pending
        return None if frame is None else frame.mono

    def take_sample(self) -> Frame | None:
        """The frame due at ``detect_fps`` that has not been taken yet, if any."""
        with self._cond:
            frame, self._pending = self._pending, None
            if frame is not None:
                self._cond.notify_all()
            return frame

    # -- state --------------------------------------------------------------------------------

    def check_stall(self) -> None:
        """Report a live stream as down once it has sent nothing for ``stall_s`` (called by the
        pipeline; the blocked read itself ends at FFmpeg's read timeout, which may retry)."""
        stalled = time.monotonic() - self._last_frame_wall > self.options.stall_s
        if self.is_live and self.state == StreamState.up and stalled:
            self._set_state(StreamState.down, f"stalled: no frame for {self.options.stall_s:g} s")

    def _set_state(self, state: StreamState, reason: str = "") -> None:
        with self._state_lock:
            if state == self.state:
                return
            self.state, self.reason, self.state_since = state, reason, time.time()
            self.ever_up = self.ever_up or state == StreamState.up
            self.last_problem = (
                reason if state in (StreamState.down, StreamState.failed) else self.last_problem
            )
        where = f"camera {self.camera_id} ({redact(self.source)})"
        if state == StreamState.up:
            log.info("%s: up", where)
        elif state == StreamState.down:
            log.warning(
                "%s: down: %s; retrying with backoff (up to %g s)", where, reason, self.options.backoff_cap_s
            )
        elif state == StreamState.failed:
            log.error("%s: skipped: %s", where, reason)
        elif state == StreamState.eof:
            skipped = f" ({self.read_errors} unreadable frames skipped)" if self.read_errors else ""
            log.info("%s: end of file after %d frames%s", where, self.frames_decoded, skipped)
        else:
            log.debug("%s: %s %s", where, state, reason)
        if self._metrics is not None:
            self._metrics.stream_up.labels(self.camera_id).set(1 if state == StreamState.up else 0)

    def _count_error(self) -> None:
        self.read_errors += 1
        if self._metrics is not None:
            self._metrics.read_errors.labels(self.camera_id).inc()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                cap, why = self._open()
                if cap is not None:
                    outcome, why, delivered = self._read_all(cap)
                    cap.release()
                    if outcome == "stopped":
                        break
                    if outcome == "eof":
                        self._set_state(StreamState.eof)
                        return
                    if delivered:
                        failures = 0
                else:
                    self._count_error()
                if not self.is_live:
                    self._set_state(StreamState.failed, why)
                    return
                failures += 1
                self._set_state(StreamState.down, why)
                delay = self.options.backoff(failures, self._rng)
                log.debug("camera %s: reconnect %d in %.1f s", self.camera_id, failures, delay)
                if self._stop.wait(delay):
                    break
                self.reconnects += 1
                if self._metrics is not None:
                    self._metrics.reconnects.labels(self.camera_id).inc()
        except Exception as exc:  # a reader must never take the pipeline down silently
            log.exception("camera %s: reader crashed", self.camera_id)
            self._set_state(StreamState.failed, f"reader crashed: {exc}")
            return
        self._set_state(StreamState.stopped)

    def _open(self) -> tuple[Any, str]:
        if self.is_live:
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.options.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self.options.stall_s * 1000),
            ]
            short = self._short_probe
            with _OPEN_LOCK:
                os.environ[_CAPTURE_OPTIONS] = capture_options(self.options.probe_bytes if short else 0)
                cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)
            if not cap.isOpened() and self.options.probe_bytes > 0:
                # the stream may be down, or its format may need a longer look than the short probe:
                # tries alternate between the two until one opens (and that one is kept)
                self._short_probe = not short
        else:
            if not Path(self.source).is_file():
                return None, f"no such file {self.source}"
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            kind = "stream" if self.is_live else "video file"
            return None, f"cannot open {kind} {redact(self.source)}"
        return cap, ""

    def _read_all(self, cap: Any) -> tuple[str, str, int]:
        """Read until the stream fails, the file ends, or stop: (outcome, why, frames delivered).

        Every frame is decoded (``grab``), but only the frames that are due as a sample or for the
        ring are converted to BGR (``retrieve``): the conversion is a good part of the cost of a
        1080p frame, and at 25 fps with 2 samples a second most frames are never looked at.
        """
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and 1.0 <= fps <= 240.0 else 25.0
        frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        start_wall = time.monotonic()
        start_utc = dt.datetime.now(dt.UTC)
        if not self.is_live and not self.realtime and frame_count > 0:
            # read faster than real time, the file's timeline ends when reading starts: every frame is
            # dated before the package that shows it is written and received, never in the future
            start_utc -= dt.timedelta(seconds=frame_count / fps)
        last_media = -1.0
        delivered = 0
        bad_in_a_row = 0
        stalled = f"stalled: no frame for {self.options.stall_s:g} s"
        settling = self.options.settle_frames
        while not self._stop.is_set():
            asked = time.monotonic()
            ok = cap.grab()
            if self.is_live and time.monotonic() - asked >= 0.95 * self.options.stall_s:
                # the read timed out; FFmpeg may still hand back a frame its decoder held: stale
                return "failed", stalled, delivered
            if not ok:
                if self.is_live:
                    return "failed", "the stream ended or could not be read", delivered
                position = int(cap.get(cv2.CAP_PROP_POS_FRAMES) or 0)
                if position + 1 < frame_count and bad_in_a_row < self.options.max_corrupt_in_a_row:
                    bad_in_a_row += 1
                    if self.read_errors == 0:
                        log.warning("camera %s: unreadable frame at %d: skipped", self.camera_id, position)
                    self._count_error()
                    continue  # a corrupt frame inside the file: skip it
                if delivered == 0:
                    return "failed", "no frame could be decoded (not a video OpenCV can read?)", 0
                return "eof", "", delivered
            if self.is_live:
                if settling > 0:
                    settling -= 1
                    continue
                mono, utc = time.monotonic(), dt.datetime.now(dt.UTC)
            else:
                media = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if not media > last_media:
                    media = last_media + 1.0 / fps if last_media >= 0 else 0.0
                last_media = media
                if self.realtime and self._stop.wait(max(0.0, start_wall + media - time.monotonic())):
                    return "stopped", "", delivered
                mono, utc = media, start_utc + dt.timedelta(seconds=media)
            self.frames_decoded += 1
            if self._metrics is not None:
                self._metrics.frames_decoded.labels(self.camera_id).inc()
            self._last_frame_wall = time.monotonic()
            if not self._wanted(mono):
                continue
            ok, image = cap.retrieve()
            if not ok or not _valid_image(image):
                bad_in_a_row += 1
                self._count_error()
                if bad_in_a_row > self.options.max_corrupt_in_a_row:
                    return "failed", "the decoder returns no usable frames", delivered
                continue
            bad_in_a_row = 0
            delivered += 1
            if self.state != StreamState.up:
                self._set_state(StreamState.up)
            # index: the frame's number among all frames this reader decoded (for a file: its
            # position, unless frames were unreadable)
            self._publish(Frame(self.camera_id, self.frames_decoded - 1, image, utc, mono))
        return "stopped", "", delivered

    def _wanted(self, mono: float) -> bool:
        """Whether a frame at ``mono`` is due as a sample or for the ring (reader thread only)."""
        due = self._next_due
        if due is None or not self._ring or mono < due - 2 * self.period_s - 1.0:
            return True
        if mono >= due - _DUE_EPSILON_S:
            return True
        return mono - self._ring[-1].mono >= 1.0 / self.options.ring_fps - _DUE_EPSILON_S

    def _publish(self, frame: Frame) -> None:
        notify = False
        with self._cond:
            self._latest = frame
            ring = self._ring
            if not ring or frame.mono - ring[-1].mono >= 1.0 / self.options.ring_fps - _DUE_EPSILON_S:
                ring.append(frame)
                self._ring_bytes += frame.image.nbytes
            cap = self.options.ring_max_mb * 1e6
            while ring and (frame.mono - ring[0].mono > self.options.ring_s or self._ring_bytes > cap):
                self._ring_bytes -= ring.popleft().image.nbytes
            period = self.period_s
            if self._next_due is None or frame.mono < self._next_due - 2 * period - 1.0:
                # samples fall on a grid of the clock (multiples of the period), so live cameras
                # with the same detect_fps are due together and can share a batch
                self._next_due = math.ceil(frame.mono / period - 1e-6) * period
            if frame.mono >= self._next_due - _DUE_EPSILON_S:
                if self.lossless:
                    while self._pending is not None and not self._stop.is_set():
                        self._cond.wait(0.1)
                elif self._pending is not None:
                    self.samples_dropped += 1
                self._pending = frame
                self._next_due = (math.floor(frame.mono / period + 1e-6) + 1) * period
                notify = True
        if notify and self._on_sample is not None:
            self._on_sample()
