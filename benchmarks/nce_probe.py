"""``nce run`` with one more event sink, for bench_scaling.py and bench_events.py: the real command,
measured from inside.

    python -m benchmarks.nce_probe STATS.json MAX_WARMUP_S WINDOW_S -- run --config F --duration S ...

runs ``nce.cli.main`` on the arguments after ``--``; the one change is :func:`detector.cli.run.build_sinks`
(the documented place where sinks are added), which here appends a :class:`Probe`. The probe opens
its measuring window one second after every camera's stream is up (``nce_stream_up``) and has its
decode mode (``nce_decode_mode``: the PyAV path decodes every frame until it is known), or after
``MAX_WARMUP_S``, and after ``WINDOW_S`` more seconds stops the run the way an operator would
(SIGINT: ``nce run`` shuts down cleanly; ``WINDOW_S`` 0: never, for ``--until-eof`` runs).
``NCE_PROBE_PATH=old`` in the environment reads every camera through OpenCV, every frame decoded. Over the
window it records:

- the pipeline's own Prometheus counters per camera (decoded, sampled, inferred, gate-skipped, read
  errors, reconnects) at the start and at the end of the window, and the inference histogram sums;
- the age of every inferred frame when the pipeline hands it to the sinks (``on_sample``: after the
  gate, the batched detector, the tracker and the rules): wall time now minus the frame's UTC stamp,
  which the reader sets when it decodes a live frame;
- the same age for every hit event (``on_event``): the frame-to-hit latency of the pipeline.

and, per camera, the UTC stamp of media time 0 (``frame.utc - frame.mono``: for a file the reader
stamps frames with its start time plus the media position), so that the hit events' ``ts`` can be
put on the clip's own timeline. At ``close`` (shutdown, after the last event) it writes ``STATS.json``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

COUNTERS = (
    "nce_frames_decoded_total",
    "nce_frames_sampled_total",
    "nce_frames_inferred_total",
    "nce_frames_gate_skipped_total",
    "nce_read_errors_total",
    "nce_reconnects_total",
    "nce_packets_total",
)
GLOBAL = (
    "nce_inference_seconds_sum",
    "nce_inference_seconds_count",
    "nce_batch_size_sum",
    "nce_batch_size_count",
)


class Probe:
    """An event sink that measures; see the module docstring."""

    def __init__(
        self, registry: Any, cameras: list[str], out: Path, max_warmup_s: float, window_s: float
    ) -> None:
        self.registry = registry
        self.cameras = cameras
        self.out = out
        self.max_warmup_s = max_warmup_s
        self.window_s = window_s
        self.t0 = time.time()
        self.all_up_s: float | None = None
        self.window_start: float | None = None
        self.start: dict[str, Any] = {}
        self.ages: list[float] = []
        self.hit_ages: list[dict[str, Any]] = []
        self.origins: dict[str, float] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="probe", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        get = self.registry.get_sample_value
        while not self._closed.is_set() and time.time() - self.t0 < self.max_warmup_s:
            up = all((get("nce_stream_up", {"camera": c}) or 0.0) >= 1.0 for c in self.cameras)
            if up and all(self._mode_known(c) for c in self.cameras):
                self.all_up_s = time.time() - self.t0
                self._closed.wait(1.0)  # the first samples of the last camera to connect
                break
            self._closed.wait(0.05)
        if self._closed.is_set():
            return
        self._open_window()
        if self.window_s > 0 and not self._closed.wait(self.window_s):
            os.kill(os.getpid(), signal.SIGINT)

    def _mode(self, camera: str) -> str | None:
        """The camera's decode mode, once set (PyAV: after its key-frame probe, which decodes every frame)."""
        get = self.registry.get_sample_value
        modes = ("keyframes", "nonref", "gop_partial", "all", "opencv")
        return next(
            (m for m in modes if (get("nce_decode_mode", {"camera": camera, "mode": m}) or 0.0) >= 1.0), None
        )

    def _mode_known(self, camera: str) -> bool:
        return self._mode(camera) is not None

    def _snapshot(self) -> dict[str, Any]:
        get = self.registry.get_sample_value
        snap: dict[str, Any] = {
            name: {cam: get(name, {"camera": cam}) or 0.0 for cam in self.cameras} for name in COUNTERS
        }
        for name in GLOBAL:
            snap[name] = get(name, {}) or 0.0
        snap["t"] = time.time()
        return snap

    def _open_window(self) -> None:
        with self._lock:
            self.start = self._snapshot()
            self.window_start = self.start["t"]

    def on_event(self, event: Any, frame: Any, detections: Any, ring: Any) -> None:
        age = time.time() - frame.utc.timestamp()
        self.hit_ages.append(
            {"event": event.event, "camera": event.camera_id, "violation": event.violation, "age_s": age}
        )

    def on_sample(self, frame: Any, ring: Any) -> None:
        if frame.camera_id not in self.origins:
            self.origins[frame.camera_id] = frame.utc.timestamp() - frame.mono
        if self.window_start is not None:
            self.ages.append(time.time() - frame.utc.timestamp())

    def close(self) -> None:
        self._closed.set()
        end = self._snapshot()
        with self._lock:
            start = self.start
        doc = {
            "max_warmup_s": self.max_warmup_s,
            "all_up_s": self.all_up_s,
            "window_s": end["t"] - start["t"] if start else 0.0,
            "start": start,
            "end": end,
            "ages_s": self.ages,
            "hits": self.hit_ages,
            "origins": self.origins,
            "decode_modes": {c: self._mode(c) for c in self.cameras},
        }
        self.out.write_text(json.dumps(doc), encoding="utf-8")


def main(argv: list[str]) -> int:
    stats, warmup, window, sep, *nce_args = argv
    if sep != "--":
        raise SystemExit("usage: python -m benchmarks.nce_probe STATS.json MAX_WARMUP_S WINDOW_S -- run ...")
    from detector.cli import run as cli_run
    from nce.cli import main as nce_main

    original = cli_run.build_sinks

    def build_sinks(config: Any, args: Any, **kwargs: Any) -> list[Any]:
        sinks = original(config, args, **kwargs)
        cameras = [c.id for c in config.cameras if c.enabled]
        sinks.append(Probe(kwargs["registry"], cameras, Path(stats), float(warmup), float(window)))
        return sinks

    cli_run.build_sinks = build_sinks  # type: ignore[assignment]
    if os.environ.get("NCE_PROBE_PATH") == "old":
        # bench_scaling.py --path old: every camera through OpenCV, every frame decoded (the path
        # before PyAV), by the readers' own switch, ReaderOptions.use_pyav
        from detector.video.common import ReaderOptions

        ReaderOptions.__init__.__kwdefaults__["use_pyav"] = False
    return nce_main(nce_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
