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
    model: Path, frames_file: Path, conf: float, iou: float, imgsz: tuple[int, int]
) -> float | None:
    if not TRAIN_PYTHON.exists():
        return None
    code = f"""
import time, numpy as np
from ultralytics import YOLO
frames = np.load({str(frames_file)!r})
m = YOLO({str(model)!r}, task="detect")
m.predict(frames[0], conf={conf}, iou={iou}, imgsz={list(imgsz)}, verbose=False)
t0 = time.perf_counter()
for f in frames:
    m.predict(f, conf={conf}, iou={iou}, imgsz={list(imgsz)}, verbose=False)
print((time.perf_counter() - t0) / len(frames))
"""
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False"}
    res = subprocess.run(
        [str(TRAIN_PYTHON), "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if res.returncode != 0:
        print(f"ultralytics run failed: {res.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return float(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "street-v1.onnx")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="30 frames")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.45)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    args = parser.parse_args()
    n = 30 if args.quick else args.frames
    frames = read_frames(n, start=500)
    det = YoloDetector(args.model, conf=args.conf, iou=args.iou, intra_op_threads=args.threads)
    tensors = [det.preprocess([f])[0].copy() for f in frames]
    name = det.info.input_name

    raw_s = time_loop(lambda t: det.session.run(None, {name: t}), tensors, "raw session.run")
    nce_s = time_loop(lambda f: det.detect([f]), frames, "nce detect")
    pre_s = time_loop(lambda f: det.preprocess([f]), frames, "nce preprocess")
    with tempfile.TemporaryDirectory() as tmp:
        frames_file = Path(tmp) / "frames.npy"
        np.save(frames_file, np.stack(frames))
        ul_s = ultralytics_seconds_per_frame(args.model, frames_file, args.conf, args.iou, det.info.imgsz)

    raw_fps, nce_fps = 1 / raw_s, 1 / nce_s
    ul_fps = None if ul_s is None else 1 / ul_s
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
        },
        "raw_fps": raw_fps,
        "nce_fps": nce_fps,
        "ultralytics_fps": ul_fps,
        "preprocess_ms": pre_s * 1000,
        "nce_over_raw": nce_fps / raw_fps,
        "nce_over_ultralytics": None if ul_fps is None else nce_fps / ul_fps,
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
    notes = (
        f"Model `{result['model']['path']}` at {det.info.imgsz[0]}x{det.info.imgsz[1]}, batch 1, CPU; "
        f"{len(frames)} vtest.avi frames ({frames[0].shape[1]}x{frames[0].shape[0]}). "
        "Targets: (b)/(a) >= 0.9, (b)/(c) >= 1.5."
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
