"""Prometheus metrics of the edge pipeline, in a registry of their own (one per pipeline).

Per camera: packets demuxed, the decode mode, frames decoded / sampled / inferred / skipped by the
change gate, read errors, reconnects and whether the stream is up; for the shared model: inference latency and batch sizes;
hit events by kind; detections dropped by a camera's masks; learning samples picked and each camera's
budget left today; the bytes in each camera's encoded pre-roll ring. :meth:`PipelineMetrics.serve`
exposes the text format over HTTP.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server

from nce.vocabulary import SAMPLE_REASONS

BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PipelineMetrics:
    """The pipeline's counters, gauges and histograms."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.frames_decoded = Counter(
            "nce_frames_decoded", "Frames decoded by the camera's reader", ["camera"], registry=r
        )
        self.frames_sampled = Counter(
            "nce_frames_sampled", "Frames taken at the camera's detect_fps", ["camera"], registry=r
        )
        self.frames_inferred = Counter(
            "nce_frames_inferred", "Sampled frames that went through the model", ["camera"], registry=r
        )
        self.frames_gate_skipped = Counter(
            "nce_frames_gate_skipped",
            "Sampled frames not inferred because the change gate saw no change",
            ["camera"],
            registry=r,
        )
        self.read_errors = Counter(
            "nce_read_errors", "Failed reads, corrupt frames and failed opens", ["camera"], registry=r
        )
        self.reconnects = Counter(
            "nce_reconnects", "Reconnection attempts after a failure or stall", ["camera"], registry=r
        )
        self.packets = Counter(
            "nce_packets", "Video packets demuxed by the camera's reader (PyAV path)", ["camera"], registry=r
        )
        self.decode_mode = Gauge(
            "nce_decode_mode",
            "1 for the camera's decode mode (keyframes, nonref, gop_partial, all; opencv: the fallback)",
            ["camera", "mode"],
            registry=r,
        )
        self.decode_hwaccel = Gauge(
            "nce_decode_hwaccel",
            "1 while the camera decodes on NVDEC (decode.hwaccel cuda/auto), 0 on the CPU",
            ["camera"],
            registry=r,
        )
        self.stream_up = Gauge("nce_stream_up", "1 while the camera delivers frames", ["camera"], registry=r)
        self.inference_seconds = Histogram(
            "nce_inference_seconds",
            "Wall time of one batched detector call (pre-processing, session.run, decoding)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "nce_batch_size", "Frames per detector call", buckets=BATCH_BUCKETS, registry=r
        )
        self.hit_events = Counter("nce_hit_events", "Hit events emitted", ["camera", "event"], registry=r)
        self.masked_detections = Counter(
            "nce_masked_detections",
            "Detections dropped by the camera's masks before the tracker and the rules",
            ["camera", "class"],
            registry=r,
        )
        self.samples = Counter(
            "nce_samples",
            "Learning samples picked (sample packages; the budget is spent when picked)",
            ["camera", "reason"],
            registry=r,
        )
        self.samples_budget_left = Gauge(
            "nce_samples_budget_left",
            "Learning samples the camera may still send today (local day, all reasons)",
            ["camera"],
            registry=r,
        )
        self.preroll_bytes = Gauge(
            "nce_preroll_bytes",
            "Bytes of encoded packets in the camera's pre-roll ring (detector.video.ring)",
            ["camera"],
            registry=r,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def add_camera(self, camera_id: str) -> None:
        """Create a camera's series at zero, so that a camera that never connects still shows up."""
        for metric in (
            self.frames_decoded,
            self.frames_sampled,
            self.frames_inferred,
            self.frames_gate_skipped,
            self.read_errors,
            self.reconnects,
            self.packets,
        ):
            metric.labels(camera_id)
        self.stream_up.labels(camera_id).set(0)

    def add_learning(self, camera_id: str, daily_budget: int) -> None:
        """A camera's learning series, at zero samples and its whole budget left."""
        for reason in SAMPLE_REASONS:
            self.samples.labels(camera_id, reason)
        self.samples_budget_left.labels(camera_id).set(daily_budget)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (``nce_frames_decoded_total``, ``nce_batch_size_count``…); 0 if absent."""
        got = self.registry.get_sample_value(name, labels or {})
        return 0.0 if got is None else float(got)

    def text(self) -> str:
        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``port`` (0: a free one); return the port bound."""
        server, thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server, self._thread = server, thread
        return int(server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
