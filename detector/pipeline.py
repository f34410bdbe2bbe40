"""The edge pipeline: readers → change gate → one shared, batched detector → tracker → rules → sinks.

:class:`Pipeline` owns one :class:`CameraRuntime` per enabled camera and runs the scheduling loop in
the calling thread (the one inference thread the sinks are called from, in order):

1. take every camera's pending sample (each reader samples at its camera's ``detect_fps``); when some
   running cameras have none yet, wait up to ``batch_window_s`` for them so that frames due together
   go through as one batch;
2. ask each camera's change gate whether the sample needs the model (or is due for a re-check);
3. letterbox the samples that do into batches of at most ``model.max_batch`` and hand each to the
   inference thread (``session.run``);
4. drop what the camera's masks cover (:mod:`detector.masks`), track, apply the rules (a skipped
   sample re-uses the camera's last detections: nothing changed), and hand the events to every sink
   (``on_event``), then ``on_sample`` for inferred samples; with ``learning`` enabled, the camera's
   :class:`~detector.learning.SampleSelector` may pick the frame to learn from
   (``on_learning_sample``: the evidence packager writes it as a sample package).

With ``overlap``, steps 1–3 of the next batch run while the model works on the current one, and
step 4 of a batch runs while the model works on the next: ONNX Runtime releases the GIL, so the
Python stages cost the model no time where a core (or the GPU) would otherwise wait. At most two
batches are in flight; every camera's samples still reach the tracker, the rules and the sinks in
order, one batch later at most. It pays when the model leaves the CPU room (a GPU provider, or fewer
ONNX Runtime threads than cores); when the model's threads already use every core, the Python stages
would only take cores from it, so by default it is on exactly then (:func:`detector.model_setup.overlap_pays`).

It ends on :meth:`Pipeline.stop` (signals), after ``duration_s``, when every reader has ended, or —
with ``until_eof`` — when every file has ended. Shutdown stops the readers, flushes the open hits
(:meth:`RuleEngine.flush`) to the sinks and closes them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from detector.batches import Batch, Chunk, guarded
from detector.config import Camera, SiteConfig
from detector.detections import Detections
from detector.events import EventSink, Frame, HitEvent, LearningSample
from detector.evidence.encoded_clip import record_packets
from detector.gate import ChangeGate, GateSettings
from detector.grayscale import GrayscaleWatch
from detector.health_watch import HealthRules
from detector.learning import SampleSelector, split_below
from detector.masks import DetectionMasks
from detector.metrics import PipelineMetrics
from detector.model_setup import overlap_pays
from detector.remote_settings import SettingsInbox
from detector.rollout import ModelSlots
from detector.rules import RuleEngine
from detector.run_summary import RunSummary
from detector.sources import CameraReader, ReaderOptions, StreamState
from detector.tracker import IouTracker
from detector.yolo import YoloDetector

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    until_eof: bool = False
    duration_s: float | None = None
    batch_window_s: float = 0.1
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    gate: GateSettings = field(default_factory=GateSettings)
    track_buffer_s: float = 30.0
    # run the model on one batch while the Python stages handle the other; None: when it pays (see
    # overlap_pays)
    overlap: bool | None = None
    release: str = "site"  # the release the site's model came from (rollout reports name it)
    health: HealthRules | None = None  # when a swapped-in model is rolled back (detector.health_watch)


@dataclass
class CameraRuntime:
    """One camera's stages and what it last saw."""

    camera: Camera
    reader: CameraReader
    gate: ChangeGate
    tracker: IouTracker
    rules: RuleEngine
    masks: DetectionMasks | None = None
    sampler: SampleSelector | None = None
    last_detections: Detections = field(default_factory=Detections.empty)
    last_frame: Frame | None = None
    gray: GrayscaleWatch = field(default_factory=GrayscaleWatch)  # night/IR mode, logged once


class Pipeline:
    """The edge pipeline over a site config's enabled cameras; :meth:`run` blocks until it ends."""

    def __init__(
        self,
        config: SiteConfig,
        detector: YoloDetector,
        sinks: Sequence[EventSink],
        *,
        options: PipelineOptions | None = None,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self.config = config
        self.detector = detector
        self.sinks = list(sinks)
        self.options = options or PipelineOptions()
        self.models = ModelSlots(detector, self.options.release, self.options.health)
        self.settings = SettingsInbox(config.cameras)
        self.metrics = metrics or PipelineMetrics()
        self.max_batch = config.model.max_batch
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.summary = RunSummary()
        self.cameras: list[CameraRuntime] = []
        names = detector.info.names
        grace = max((r.grace_s for r in config.rules), default=0.0)
        opts = self.options
        # the ring must hold the evidence clip's pre-roll at the clip's frame rate
        clip = config.evidence
        reader_options = replace(
            opts.reader,
            ring_fps=max(opts.reader.ring_fps, clip.clip_fps),
            ring_s=max(opts.reader.ring_s, clip.clip_pre_s + 2.0),
        )
        for camera in config.cameras:
            if not camera.enabled:
                continue
            self.metrics.add_camera(camera.id)
            reader = CameraReader(
                camera.id,
                camera.source,  # a file's path is absolute (detector.config.paths)
                detect_fps=camera.detect_fps,
                realtime=not opts.until_eof,
                lossless=opts.until_eof,
                options=replace(reader_options, decode=camera.decode),  # NVDEC or the CPU
                metrics=self.metrics,
                on_sample=self._wake.set,
            )
            # PyAV: remuxed clips
            record_packets(self.sinks, reader, self.metrics.preroll_bytes.labels(camera.id))
            gate = ChangeGate(replace(opts.gate, recheck_s=camera.recheck_s))
            tracker = IouTracker(buffer_s=max(opts.track_buffer_s, grace))
            rules = RuleEngine(camera, config.rules, names, site_id=config.site.id, tz=config.site.tz)
            rt = CameraRuntime(camera, reader, gate, tracker, rules)
            if camera.masks:
                rt.masks = DetectionMasks(camera.id, camera.masks, names)
            if config.learning.enabled:
                rt.sampler = SampleSelector(
                    camera.id, config.learning, tz=config.site.tz, score_floor=detector.conf
                )
                self.metrics.add_learning(camera.id, config.learning.daily_budget)
            self.cameras.append(rt)
        # the model's thread, and one input buffer per batch that can be in flight (two turns' worth)
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._slots = (
            2 * (max(1, math.ceil(len(self.cameras) / self.max_batch)) + 1) + 1
        )  # +1: a canary's chunk
        self._next_slot = 0
        overlap = self.options.overlap
        self.overlap = overlap_pays(detector) if overlap is None else overlap
        log.info(
            "model on %s, %s ONNX Runtime threads: %s",
            ", ".join(detector.info.providers), detector.intra_op_threads or "default",
            "the loop overlaps the model" if self.overlap else "one batch at a time",
        )  # fmt: skip

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> RunSummary:
        start = time.monotonic()
        for rt in self.cameras:
            rt.reader.start()
        in_flight: Batch | None = None
        try:
            while not self._stop.is_set():
                if (
                    self.options.duration_s is not None
                    and time.monotonic() - start >= self.options.duration_s
                ):
                    log.info("duration of %g s reached", self.options.duration_s)
                    break
                self._wake.clear()
                self.models.apply_pending()  # between batches: the ones in flight keep their model
                self.settings.apply(self.cameras, self.detector.info.names)
                for rt in self.cameras:
                    rt.reader.check_stall()
                samples = self._collect()
                if samples:
                    batch = self._prepare(samples)  # the model starts on this batch now,
                    if in_flight is not None:
                        self._finish(in_flight)  # while the loop tracks and decides the previous one
                    in_flight = batch
                    if not self.overlap:
                        self._finish(in_flight)
                        in_flight = None
                elif in_flight is not None:
                    self._finish(in_flight)  # nothing new yet: do not hold results back
                    in_flight = None
                elif self._done():
                    break
                else:
                    self._wake.wait(0.1)
            if in_flight is not None:
                self._finish(in_flight)
        finally:
            self._model_thread.shutdown(wait=True)
            self._shutdown()
            self.summary.elapsed_s = time.monotonic() - start
            self.summary.cameras = {rt.camera.id: rt.reader.outcome() for rt in self.cameras}
        return self.summary

    def _done(self) -> bool:
        readers = [rt.reader for rt in self.cameras]
        if all(r.finished for r in readers):
            return True
        files = [r for r in readers if not r.is_live]
        return self.options.until_eof and bool(files) and all(r.finished for r in files)

    def _collect(self) -> list[tuple[CameraRuntime, Frame]]:
        taken: dict[int, tuple[CameraRuntime, Frame]] = {}
        files = [i for i, rt in enumerate(self.cameras) if rt.reader.lossless]
        live = [i for i, rt in enumerate(self.cameras) if not rt.reader.lossless]
        if files:
            self._collect_files(files, taken)

        def take() -> None:
            for i in live:
                if i not in taken and (frame := self.cameras[i].reader.take_sample()) is not None:
                    taken[i] = (self.cameras[i], frame)

        take()
        if any(i in taken for i in live) and self.options.batch_window_s > 0:
            # frames due together go through together: give the running cameras whose next sample
            # is due within the window a moment (at most half a sampling period)
            readers = [self.cameras[i].reader for i in live]
            window = min(self.options.batch_window_s, 0.5 * min(r.period_s for r in readers))
            now = time.monotonic()
            deadline = now + window
            soon = sum(
                1
                for i in live
                if i not in taken
                and self.cameras[i].reader.state == StreamState.up
                and self.cameras[i].reader.next_due_s <= deadline
            )
            want = min(sum(1 for i in taken if i in live) + soon, self.max_batch)
            while sum(1 for i in taken if i in live) < want and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
                self._wake.clear()
                take()
        return [taken[i] for i in sorted(taken)]

    def _collect_files(self, files: list[int], taken: dict[int, tuple[CameraRuntime, Frame]]) -> None:
        """Replay files in step (``--until-eof``): wait until every file still playing has its next
        sample, then take the earliest ones (files with the same timeline share a batch)."""
        pending: dict[int, float] = {}
        while not self._stop.is_set():
            pending = {}
            waiting = False
            for i in files:
                reader = self.cameras[i].reader
                t = reader.pending_mono()
                if t is not None:
                    pending[i] = t
                elif not reader.finished:
                    waiting = True
            if not waiting:
                break
            self._wake.wait(0.05)
            self._wake.clear()
        if not pending:
            return
        earliest = min(pending.values())
        for i, t in pending.items():
            if t <= earliest + 1e-3 and (frame := self.cameras[i].reader.take_sample()) is not None:
                taken[i] = (self.cameras[i], frame)

    def _prepare(self, samples: list[tuple[CameraRuntime, Frame]]) -> Batch:
        """Gate the samples, letterbox those the model must see and hand them to the model's thread."""
        t0 = time.perf_counter()
        m = self.metrics
        to_infer: list[tuple[CameraRuntime, Frame]] = []
        self._next_slot = self._next_slot if self.overlap else 0  # else the last batch's buffers are free
        for rt, frame in samples:
            m.frames_sampled.labels(rt.camera.id).inc()
            if not rt.camera.enabled:  # paused remotely: the frame goes to no model
                self.summary.paused += 1
            elif rt.gate.update(frame.image, frame.mono):
                rt.gray.see(rt.camera.id, frame.image)
                to_infer.append((rt, frame))
            else:
                m.frames_gate_skipped.labels(rt.camera.id).inc()
                self.summary.gate_skipped += 1
        self.summary.samples += len(samples)
        chunks = []
        by_model: dict[int, tuple[YoloDetector, list[tuple[CameraRuntime, Frame]]]] = {}
        for rt, frame in to_infer:  # a canary camera's frames go to its own model
            det = self.models.for_camera(rt.camera.id)
            by_model.setdefault(id(det), (det, []))[1].append((rt, frame))
        for det, group in by_model.values():
            for start in range(0, len(group), self.max_batch):
                part = group[start : start + self.max_batch]
                t1 = time.perf_counter()
                tensor, boxes = det.preprocess([frame.image for _, frame in part], slot=self._next_slot)
                self._next_slot = (self._next_slot + 1) % self._slots
                raw = self._model_thread.submit(self._infer, det, tensor)
                chunks.append(Chunk(part, boxes, raw, time.perf_counter() - t1, det))
        self.summary.busy_s += time.perf_counter() - t0
        return Batch(samples, chunks)

    def _infer(
        self, detector: YoloDetector, tensor: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], float]:
        t0 = time.perf_counter()
        raw = detector.infer(tensor)
        return raw, time.perf_counter() - t0

    def _outcome(self, chunk: Chunk) -> tuple[list[Detections], float]:
        """The chunk's detections; when a swapped-in model raises, its frames run again on the model
        it replaced (none is lost) and the error is counted for the health watch."""
        try:
            raw, run_s = chunk.raw.result()
            return chunk.detector.postprocess(raw, chunk.boxes), run_s
        except Exception as exc:
            fallback = self.models.fallback_for(chunk.detector)
            if fallback is None:
                raise
            cams = [(rt.camera.id, f.utc) for rt, f in chunk.samples]
            self.models.note_error(chunk.detector, cams, exc)
            t0 = time.perf_counter()
            tensor, boxes = fallback.preprocess([f.image for _, f in chunk.samples], slot=self._slots)
            return fallback.postprocess(fallback.infer(tensor), boxes), time.perf_counter() - t0

    def _finish(self, batch: Batch) -> None:
        """Wait for the model's output, decode it, then track, decide and tell the sinks, in order."""
        m = self.metrics
        found: dict[str, Detections] = {}
        for chunk in batch.chunks:
            t0 = time.perf_counter()
            results, run_s = self._outcome(chunk)
            post_s = max(0.0, time.perf_counter() - t0 - run_s)
            self.summary.busy_s += post_s
            self.summary.model_s += run_s
            m.inference_seconds.observe(chunk.pre_s + run_s + post_s)
            m.batch_size.observe(len(chunk.samples))
            self.summary.batches += 1
            self.summary.largest_batch = max(self.summary.largest_batch, len(chunk.samples))
            for (rt, fr), dets in zip(chunk.samples, results, strict=True):
                found[rt.camera.id] = dets
                self.models.note(rt.camera.id, fr.utc, len(dets))
                m.frames_inferred.labels(rt.camera.id).inc()
            self.summary.inferred += len(chunk.samples)
        t0 = time.perf_counter()
        for rt, frame in batch.samples:
            inferred = rt.camera.id in found
            below = Detections.empty()
            if inferred:
                dets = self._unmasked(rt, found[rt.camera.id], frame)
                if rt.sampler is not None:
                    dets, below = split_below(dets, self.config.model.conf)
                rt.last_detections = rt.tracker.update(dets, frame.mono)
            rt.last_frame = frame
            events = rt.rules.update(rt.last_detections, frame)
            self._dispatch(rt, frame, events)
            if inferred:
                for sink in self.sinks:
                    with guarded(sink, "on_sample"):
                        sink.on_sample(frame, rt.reader.ring)
            if rt.sampler is not None:
                self._learn(rt, rt.sampler, frame, below, events, inferred=inferred)
        self.summary.busy_s += time.perf_counter() - t0

    def _unmasked(self, rt: CameraRuntime, detections: Detections, frame: Frame) -> Detections:
        """The detections the camera's masks do not cover (the masked ones counted)."""
        if rt.camera.min_score > 0:
            detections = detections[detections.confidence >= rt.camera.min_score]
        if rt.masks is None:
            return detections
        kept, masked = rt.masks.apply(detections, frame.shape_hw)
        for label, n in masked.items():
            self.metrics.masked_detections.labels(rt.camera.id, label).inc(n)
        return kept

    def _learn(
        self,
        rt: CameraRuntime,
        sampler: SampleSelector,
        frame: Frame,
        below: Detections,
        events: list[HitEvent],
        *,
        inferred: bool,
    ) -> None:
        """Let the camera's sample selector pick this frame (or a dwell near miss) to learn from."""
        misses = rt.rules.below_min_score(rt.last_detections, frame) if inferred else []
        sample = sampler.update(frame, rt.last_detections, below, events, misses, inferred=inferred)
        self.metrics.samples_budget_left.labels(rt.camera.id).set(sampler.budget_left)
        if sample is not None:
            self.metrics.samples.labels(rt.camera.id, sample.reason).inc()
            self._dispatch_sample(sample)

    def _dispatch_sample(self, sample: LearningSample) -> None:
        log.info(
            "learning sample %s of %s (frame %d)", sample.reason, sample.frame.camera_id, sample.frame.index
        )
        for sink in self.sinks:
            with guarded(sink, "on_learning_sample"):
                sink.on_learning_sample(sample)

    def _dispatch(self, rt: CameraRuntime, frame: Frame, events: list[HitEvent]) -> None:
        for event in events:
            self.summary.events[event.event] += 1
            self.metrics.hit_events.labels(rt.camera.id, event.event).inc()
            if event.event == "opened":
                self.models.note_hit(rt.camera.id, frame.utc)
            log.info(
                "%s %s %s %s/%s %s %.2f", event.event, event.hit_id, event.violation, event.camera_id,
                event.zone_id, event.label, event.score,
            )  # fmt: skip
            for sink in self.sinks:
                with guarded(sink, "on_event"):
                    sink.on_event(event, frame, rt.last_detections, rt.reader.ring)

    def _shutdown(self) -> None:
        for rt in self.cameras:
            rt.reader.request_stop()  # all at once, then wait for each
        for rt in self.cameras:
            rt.reader.stop()
        for rt in self.cameras:
            events = rt.rules.flush()
            if events and rt.last_frame is not None:
                self._dispatch(rt, rt.last_frame, events)
        for sink in self.sinks:
            with guarded(sink, "close"):
                sink.close()
