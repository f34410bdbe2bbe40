"""Hot model swap in a running pipeline (issue 17): how long a swap takes and how many frames it loses.

Two cameras replay the first ``--seconds`` of vtest.avi (768x576) through street-v1. A baseline run
(no swap) is compared with runs where, a third of the way in, a second street-v1 session — loaded,
sha256-checked and warmed up on a camera's last frame beforehand, as the assignment poller does
(:func:`detector.rollout.load_candidate`) — is swapped in on every camera, and on one canary
camera. Measured:

- ``load_s``: sha256 + session + warm-up of the candidate (off the loop, in the poller's thread);
- ``swap_ms``: from the request to the loop applying it between batches (``--until-eof``: the files
  play as fast as the model allows, so this is one turn of the loop at most); and the same in a
  live-paced run (``live_swap_ms``: frames arrive at their media time);
- ``frames_lost``: samples in minus samples out (``inferred + gate_skipped``), want 0; and whether the
  hit events are the same as the baseline's (``same_events``).

Writes results/swap.json and the ``swap`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_pipeline import site, write_clip
from benchmarks.common import ROOT, write_result
from detector.config import SiteConfig
from detector.detections import Detections
from detector.events import Frame, HitEvent, RingSnapshot
from detector.model_setup import detector_from_config
from detector.pipeline import Pipeline, PipelineOptions
from detector.rollout import Swap, file_sha256, load_candidate


class Watch:
    """A sink that counts samples and events, and asks for a swap once ``at`` samples were seen."""

    def __init__(self, at: int, ask: Any, pipeline: Pipeline) -> None:
        self.at, self.ask, self.n, self.pipeline = at, ask, 0, pipeline
        self.events: list[tuple[str, str, str, float]] = []
        self.detections: list[tuple[str, int, int, float]] = []  # camera, frame, boxes, score sum

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        self.events.append(
            (event.camera_id, event.event, event.violation, frame.mono)
        )  # hit ids hold the wall time

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        rt = next(rt for rt in self.pipeline.cameras if rt.camera.id == frame.camera_id)
        dets = rt.last_detections
        self.detections.append(
            (frame.camera_id, frame.index, len(dets), round(float(dets.confidence.sum()), 4))
        )
        self.n += 1
        if self.n == self.at:
            self.ask()

    def close(self) -> None:
        pass


def one_run(
    config: SiteConfig, options: PipelineOptions, at: int, canary: frozenset[str] | None, swap: bool
) -> dict[str, Any]:
    pipeline = Pipeline(config, detector_from_config(config), [], options=options)
    load: dict[str, float] = {}

    def ask() -> None:  # the poller's work, in its own thread, then the request
        def work() -> None:
            t0 = time.perf_counter()
            frame = next(rt.last_frame for rt in pipeline.cameras if rt.last_frame is not None)
            m = config.model
            cand = load_candidate(
                m.path, file_sha256(m.path), m, frame.image, names=pipeline.detector.info.names
            )
            load["s"] = time.perf_counter() - t0
            pipeline.models.request(Swap(cand, "v2", canary))

        threading.Thread(target=work).start()

    watch = Watch(at if swap else -1, ask, pipeline)
    pipeline.sinks.append(watch)
    s = pipeline.run()
    swaps = pipeline.models.swaps
    return {
        "samples": s.samples,
        "out": s.inferred + s.gate_skipped,
        "frames_lost": s.samples - (s.inferred + s.gate_skipped),
        "swap_ms": round(swaps[0].seconds * 1000, 2) if swaps else None,
        "load_s": round(load["s"], 3) if load else None,
        "events": watch.events,
        "detections": watch.detections,
        "boxes": sum(d[2] for d in watch.detections),
        "elapsed_s": round(s.elapsed_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "street-v1.onnx")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--detect-fps", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip, _, _ = write_clip(Path(tmp) / "clip.mp4", args.seconds)
        base_cfg = site(args.model, clip, 2, args.detect_fps, 8, "stall")
        # street-v1 finds next to nothing on vtest.avi (people on a plaza) at its 0.35: compare boxes
        # down to 0.05 instead, so that a swap that changed a frame's detections would show
        base_cfg = base_cfg.model_copy(update={"model": base_cfg.model.model_copy(update={"conf": 0.05})})
        eof = PipelineOptions(until_eof=True)
        at = int(args.seconds * args.detect_fps * 2 / 3)  # a third of the samples (2 cameras)
        baseline = one_run(base_cfg, eof, at, None, swap=False)
        full = one_run(base_cfg, eof, at, None, swap=True)
        canary = one_run(base_cfg, eof, at, frozenset({"cam-1"}), swap=True)
        live = one_run(base_cfg, PipelineOptions(duration_s=min(args.seconds, 12.0)), 10, None, swap=True)
    rows = []
    for name, r in (("baseline", baseline), ("swap, all cameras", full), ("swap, canary cam-1", canary)):
        rows.append(
            {
                "run": name,
                "samples in": r["samples"],
                "samples out": r["out"],
                "frames lost": r["frames_lost"],
                "candidate load+warm-up s": r["load_s"] if r["load_s"] is not None else "—",
                "swap ms (request→applied)": r["swap_ms"] if r["swap_ms"] is not None else "—",
                "same detections and events as baseline": r["detections"] == baseline["detections"]
                and r["events"] == baseline["events"],
                "boxes": r["boxes"],
                "events": len(r["events"]),
            }
        )
    rows.append(
        {
            "run": "swap, live-paced",
            "samples in": live["samples"],
            "samples out": live["out"],
            "frames lost": live["frames_lost"],
            "candidate load+warm-up s": live["load_s"],
            "swap ms (request→applied)": live["swap_ms"],
            "same detections and events as baseline": "—",
            "boxes": live["boxes"],
            "events": len(live["events"]),
        }
    )
    result = {
        "model": args.model.name,
        "seconds": args.seconds,
        "runs": [
            {k: v for k, v in r.items() if k not in ("events", "detections")}
            for r in (baseline, full, canary, live)
        ],
    }
    notes = (
        "Two cameras replaying vtest.avi through street-v1 on this machine's CPU; the candidate is a second "
        "session of the same model, so every sample's detections and the events must match the baseline's "
        "exactly. The live-paced run plays the clip at its frame rate for at most 12 s."
    )
    print(write_result("swap", result, rows, notes))
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
