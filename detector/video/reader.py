"""One reader thread per camera (RTSP or a video file). See :mod:`detector.sources`."""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from detector.config.paths import is_stream
from detector.events import Frame
from detector.metrics import PipelineMetrics
from detector.native_memory import return_large_blocks
from detector.video import opencv_source, pyav_source
from detector.video.common import FINAL_STATES, DecodeMode, ReaderOptions, StreamState, redact
from detector.video.hwaccel import CPU, choose_decode
from detector.video.packets import PacketSink, StreamInfo

log = logging.getLogger("detector.sources")

_DUE_EPSILON_S = 1e-3  # media times are rounded to milliseconds


class CameraReader:
    """Reads one camera in its own thread. See the module docstring of :mod:`detector.sources`."""

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
        on_packet: PacketSink | None = None,
    ) -> None:
        if detect_fps <= 0:
            raise ValueError(f"detect_fps must be > 0, got {detect_fps}")
        self.camera_id = camera_id
        self.source = source
        self.is_live = is_stream(source)
        self.realtime = realtime
        self.lossless = lossless and not self.is_live
        self.options = options or ReaderOptions()
        self.detect_fps = detect_fps
        self.period_s = 1.0 / detect_fps
        self._metrics = metrics
        self._on_sample = on_sample
        self.on_packet = on_packet
        self._sink_failed = False  # on_packet raised once (logged once)
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
        self.backend = "pyav" if self.options.use_pyav else "opencv"
        self.decode_mode: DecodeMode | None = None if self.options.use_pyav else DecodeMode.opencv
        # NVDEC or the CPU, checked now (a camera asking for cuda where it cannot open: SourceError)
        self.decoder = choose_decode(camera_id, self.options.decode) if self.options.use_pyav else CPU
        if metrics is not None:
            metrics.decode_hwaccel.labels(camera_id).set(1 if self.decoder.on_gpu else 0)
        self.stream_info: StreamInfo | None = None  # the PyAV path's video stream, once opened
        self.state = StreamState.connecting
        self.state_since = time.time()  # wall clock: when the state last changed (the heartbeat's)
        self.reason = ""
        self.reconnects = 0
        self.ever_up = False
        self.last_problem = ""  # why the stream last went down or failed
        self.frames_decoded = 0
        self.packets_read = 0
        self.samples_dropped = 0
        self.read_errors = 0
        self._thread = threading.Thread(target=self._run, name=f"reader-{camera_id}", daemon=True)

    # -- public -------------------------------------------------------------------------------

    def start(self) -> None:
        return_large_blocks()  # freed pictures leave the reader thread's arena (once per process)
        if self.decode_mode is not None:
            self._export_mode(self.decode_mode)
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

    @property
    def frames_received(self) -> int:
        """Frames the stream sent (the heartbeat's fps): packets on the PyAV path, which decodes
        only some; decoded frames on the OpenCV path, which decodes all."""
        return self.packets_read if self.backend == "pyav" else self.frames_decoded

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

    def _set_decode_mode(self, mode: DecodeMode, why: str) -> None:
        """Record the camera's decode mode; logged once per camera (and again only if it changes)."""
        if mode == self.decode_mode:
            return
        self.decode_mode = mode
        log.info("camera %s: decode mode %s (%s)", self.camera_id, mode, why)
        self._export_mode(mode)

    def _export_mode(self, mode: DecodeMode) -> None:
        if self._metrics is not None:
            for m in DecodeMode:
                self._metrics.decode_mode.labels(self.camera_id, m.value).set(1 if m == mode else 0)

    def _count_error(self) -> None:
        self.read_errors += 1
        if self._metrics is not None:
            self._metrics.read_errors.labels(self.camera_id).inc()

    def _count_frame(self) -> None:
        self.frames_decoded += 1
        if self._metrics is not None:
            self._metrics.frames_decoded.labels(self.camera_id).inc()

    def _count_packet(self) -> None:
        self.packets_read += 1
        self._last_frame_wall = time.monotonic()
        if self._metrics is not None:
            self._metrics.packets.labels(self.camera_id).inc()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                handle, why = self._open()
                if handle is not None:
                    outcome, why, delivered = self._read_all(handle)
                    self._close(handle)
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
        if self.backend == "pyav":
            container, why, fall_back = pyav_source.open_pyav(self)
            if container is not None or not fall_back:
                return container, why
            log.warning(
                "camera %s (%s): PyAV cannot open it (%s): reading it through OpenCV, every frame decoded",
                self.camera_id,
                redact(self.source),
                why,
            )
            self.backend = "opencv"
            self._set_decode_mode(DecodeMode.opencv, "OpenCV fallback")
            if self._metrics is not None:
                self._metrics.decode_hwaccel.labels(self.camera_id).set(0)
        return opencv_source.open_opencv(self)

    def _read_all(self, handle: Any) -> tuple[str, str, int]:
        if self.backend == "pyav":
            return pyav_source.read_pyav(self, handle)
        return opencv_source.read_opencv(self, handle)

    def _close(self, handle: Any) -> None:
        if self.backend == "pyav":
            handle.close()
        else:
            handle.release()

    def _ring_s(self) -> float:
        """Seconds of decoded frames the ring keeps: a PyAV camera whose packets feed the evidence
        packager keeps only ``packet_camera_ring_s`` (its clips are remuxed packets, its stills are
        samples); any other camera, ``ring_s``."""
        if self.backend == "pyav" and self.on_packet is not None:
            return self.options.packet_camera_ring_s
        return self.options.ring_s

    def _wanted(self, mono: float) -> bool:
        """Whether a frame at ``mono`` is due as a sample or for the ring (reader thread only); a
        frame that is neither is never converted to BGR."""
        due = self._next_due
        if due is None or mono < due - 2 * self.period_s - 1.0 or mono >= due - _DUE_EPSILON_S:
            return True  # the first frame, a jump back (a new timeline), or a sample
        if self._ring_s() <= 0:
            return False
        return not self._ring or mono - self._ring[-1].mono >= 1.0 / self.options.ring_fps - _DUE_EPSILON_S

    def _publish_image(self, index: int, image: np.ndarray, utc: dt.datetime, mono: float) -> None:
        self._publish(Frame(self.camera_id, index, image, utc, mono))

    def _publish(self, frame: Frame) -> None:
        notify = False
        with self._cond:
            self._latest = frame
            ring, keep_s = self._ring, self._ring_s()
            spaced = not ring or frame.mono - ring[-1].mono >= 1.0 / self.options.ring_fps - _DUE_EPSILON_S
            if keep_s > 0 and spaced:
                ring.append(frame)
                self._ring_bytes += frame.image.nbytes
            cap = self.options.ring_max_mb * 1e6
            while ring and (frame.mono - ring[0].mono > keep_s or self._ring_bytes > cap):
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
