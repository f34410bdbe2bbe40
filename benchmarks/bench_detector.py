"""Detector speed on real frames (vtest.avi): bare session.run vs NCE's detector vs Ultralytics.

(a) ``raw``: ``session.run`` on tensors preprocessed beforehand (the floor).
(b) ``nce``: ``YoloDetector.detect`` — letterbox, run, decode, NMS, un-letterbox.
(c) ``ultralytics``: ``YOLO("model.onnx").predict`` on the same frames, run in the train venv.

Targets: nce/raw >= 0.9 and nce/ultralytics >= 1.5. Writes results/detector.json, RESULTS.md and
results/detector.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.progress import track

from benchmarks.common import RESULTS, ROOT, VTEST, bar_plot, write_result
from detector.yolo import YoloDetector

TRAIN_PYTHON = ROOT / ".venv-train" / "bin" / "python"


def read_frames(n: int, start: int = 0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"no frames from {VTEST}: run `make data` first")
    return frames


def time_loop(fn, items, label: str) -> float:  # type: ignore[no-untyped-def]
    fn(items[0])  # warm-up
    t0 = time.perf_counter()
    for item in track(items, description=label, transient=True):
        fn(item)
    return (time.perf_counter() - t0) / len(items)


def ultralytics_seconds_per_frame(
    model: Path, frames_file: Path, conf: float, iou: float, imgsz: tuple[int, int], rounds: int = 1
) -> dict[str, Any] | None:
    """Ultralytics predict, s/frame: ``square`` (rect=False: the same letterboxed input size as NCE)
    and ``default`` (its own default, rect=True: on a dynamic export a smaller rectangle, e.g.
    384x288 for 4:3 frames), plus the input shape each used and the Ultralytics version."""
    if not TRAIN_PYTHON.exists():
        return None
    code = f"""
import json, time, numpy as np, ultralytics
from ultralytics import YOLO
frames = np.load({str(frames_file)!r})
m = YOLO({str(model)!r}, task="detect")
out = {{"version": ultralytics.__version__}}
for name, rect in (("square", False), ("default", True)):
    kw = dict(conf={conf}, iou={iou}, imgsz={list(imgsz)}, verbose=False, rect=rect)
    m.predict(frames[0], **kw)
    best = float("inf")
    for _ in range({rounds}):
        t0 = time.perf_counter()
        for f in frames:
            m.predict(f, **kw)
        best = min(best, (time.perf_counter() - t0) / len(frames))
    out[name] = best
    shapes = []
    pre = m.predictor.preprocess
    m.predictor.preprocess = lambda im, _p=pre: (lambda t: (shapes.append(list(t.shape[2:])), t)[1])(_p(im))
    m.predict(frames[0], **kw)
    m.predictor.preprocess = pre
    out[name + "_input_hw"] = shapes[0] if shapes else None
print(json.dumps(out))
"""
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False"}
    res = subprocess.run(
        [str(TRAIN_PYTHON), "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if res.returncode != 0:
        print(f"ultralytics run failed: {res.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "street-v1.onnx")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="30 frames")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.45)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, best of each path")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    args = parser.parse_args()
    n = 30 if args.quick else args.frames
    frames = read_frames(n, start=500)
    det = YoloDetector(args.model, conf=args.conf, iou=args.iou, intra_op_threads=args.threads)
    tensors = [det.preprocess([f])[0].copy() for f in frames]
    name = det.info.input_name

    # the paths alternate, best of ``rounds`` each: a shared machine's load comes and goes
    rounds = 1 if args.quick else args.rounds
    raws, nces, pres = [], [], []
    for _ in range(rounds):
        raws.append(time_loop(lambda t: det.session.run(None, {name: t}), tensors, "raw session.run"))
        nces.append(time_loop(lambda f: det.detect([f]), frames, "nce detect"))
        pres.append(time_loop(lambda f: det.preprocess([f]), frames, "nce preprocess"))
    raw_s, nce_s, pre_s = min(raws), min(nces), min(pres)
    with tempfile.TemporaryDirectory() as tmp:
        frames_file = Path(tmp) / "frames.npy"
        np.save(frames_file, np.stack(frames))
        ul = ultralytics_seconds_per_frame(
            args.model, frames_file, args.conf, args.iou, det.info.imgsz, rounds
        )
    ul_s = None if ul is None else float(ul["square"])
    ul_default_s = None if ul is None else float(ul["default"])

    raw_fps, nce_fps = 1 / raw_s, 1 / nce_s
    ul_fps = None if ul_s is None else 1 / ul_s
    ul_default_fps = None if ul_default_s is None else 1 / ul_default_s
    result = {
        "model": {
            "path": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
            "sha256": det.info.sha256,
            "imgsz": list(det.info.imgsz),
            "providers": list(det.info.providers),
        },
        "input": {
            "video": "vtest.avi",
            "frames": len(frames),
            "frame_hw": list(frames[0].shape[:2]),
            "batch": 1,
            "rounds": rounds,
        },
        "raw_fps": raw_fps,
        "nce_fps": nce_fps,
        "ultralytics_fps": ul_fps,
        "ultralytics_default_fps": ul_default_fps,
        "ultralytics": ul,
        "preprocess_ms": pre_s * 1000,
        "nce_over_raw": nce_fps / raw_fps,
        "nce_over_ultralytics": None if ul_fps is None else nce_fps / ul_fps,
        "nce_over_ultralytics_default": None if ul_default_fps is None else nce_fps / ul_default_fps,
        "targets": {"nce_over_raw": 0.9, "nce_over_ultralytics": 1.5},
    }
    rows: list[dict[str, Any]] = [
        {
            "path": "(a) bare session.run",
            "fps": raw_fps,
            "ms/frame": raw_s * 1000,
            "ratio vs (b)": nce_fps / raw_fps,
        },
        {"path": "(b) NCE detector", "fps": nce_fps, "ms/frame": nce_s * 1000, "ratio vs (b)": 1.0},
    ]
    if ul_fps is not None and ul_s is not None:
        rows.append(
            {
                "path": "(c) Ultralytics predict",
                "fps": ul_fps,
                "ms/frame": ul_s * 1000,
                "ratio vs (b)": nce_fps / ul_fps,
            }
        )
    if ul is not None and ul_default_fps is not None and ul_default_s is not None:
        rows.append(
            {
                "path": "(c') Ultralytics predict, its default (rect)",
                "fps": ul_default_fps,
                "ms/frame": ul_default_s * 1000,
                "ratio vs (b)": nce_fps / ul_default_fps,
            }
        )
    notes = (
        f"Model `{result['model']['path']}` at {det.info.imgsz[0]}x{det.info.imgsz[1]}, batch 1, CPU; "
        f"{len(frames)} vtest.avi frames ({frames[0].shape[1]}x{frames[0].shape[0]}). "
        f"Best of {rounds} alternating round(s) per path. Targets: (b)/(a) >= 0.9, (b)/(c) >= 1.5. "
        "ratio vs (b) = (b) fps / that path's fps. "
    )
    if ul is not None:
        notes += (
            f"Ultralytics {ul['version']} (the train venv): (c) with `rect=False`, the same "
            f"{ul['square_input_hw']} (h, w) input as NCE's square letterbox, so both do the same model work; "
            f"(c') its default `rect=True`, which on a dynamic-shape export letterboxes to the smallest "
            f"stride multiple, {ul['default_input_hw']} here: fewer pixels, less model work. "
        )
    write_result("detector", result, rows, notes)
    labels = [r["path"].split(" ", 1)[0] for r in rows]
    bar_plot(
        RESULTS / "detector.png",
        labels,
        [r["fps"] for r in rows],
        "Detector frames/s (batch 1, CPU)",
        "frames/s",
    )
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("raw_fps", "nce_fps", "ultralytics_fps", "nce_over_raw", "nce_over_ultralytics")
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
