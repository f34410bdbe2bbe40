"""Detector speed on real frames (vtest.avi): bare session.run vs NCE's detector vs Ultralytics.

Each path is measured twice, on the same input size: square (the model's ``imgsz``, e.g. 384x384)
and rect (the smallest stride multiple that holds the frame, e.g. 288x384 for 768x576: NCE's default
on a dynamic-shape model, and Ultralytics').

(a) ``raw``: ``session.run`` on tensors preprocessed beforehand (the floor).
(b) ``nce``: ``YoloDetector.detect`` — letterbox, run, decode, NMS, un-letterbox.
(c) ``ultralytics``: ``YOLO("model.onnx").predict`` on the same frames, run in the train venv.

Targets: nce/raw >= 0.9 and nce/ultralytics >= 1.5, each on the same input. Writes
results/detector.json, RESULTS.md and results/detector.png.
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
    frames: list[np.ndarray] = []
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
    model: Path,
    frames_file: Path,
    conf: float,
    iou: float,
    imgsz: tuple[int, int],
    rounds: int = 1,
    threads: int = 0,
) -> dict[str, Any] | None:
    """Ultralytics predict, s/frame: ``square`` (rect=False: the same letterboxed input size as NCE)
    and ``default`` (its own default, rect=True: on a dynamic export a smaller rectangle, e.g.
    384x288 for 4:3 frames), plus the input shape each used and the Ultralytics version.

    ``threads`` (0: defaults) sets the ONNX Runtime intra-op threads of the session Ultralytics makes
    (it takes no option for it: ``onnxruntime.InferenceSession`` is wrapped) and torch's threads, so
    both sides run on the same number of threads."""
    if not TRAIN_PYTHON.exists():
        return None
    code = f"""
import json, time, numpy as np, onnxruntime, torch, ultralytics
from ultralytics import YOLO
threads = {threads}
if threads:
    torch.set_num_threads(threads)
    _session = onnxruntime.InferenceSession
    def _with_threads(path, sess_options=None, *args, **kwargs):
        options = sess_options or onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        return _session(path, options, *args, **kwargs)
    onnxruntime.InferenceSession = _with_threads
frames = np.load({str(frames_file)!r})
m = YOLO({str(model)!r}, task="detect")
out = {{"version": ultralytics.__version__, "threads": threads, "torch_threads": torch.get_num_threads()}}
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
session = getattr(getattr(m.predictor.model, "backend", m.predictor.model), "session", None)
if session is not None:
    out["ort_intra_op_threads"] = session.get_session_options().intra_op_num_threads
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
    kw: dict[str, Any] = {"conf": args.conf, "iou": args.iou, "intra_op_threads": args.threads}
    dets = {"square": YoloDetector(args.model, rect=False, **kw), "rect": YoloDetector(args.model, **kw)}
    if not dets["rect"].rect:
        dets.pop("rect")  # a static-shape export: square only
    info = dets["square"].info
    name = info.input_name
    tensors = {k: [d.preprocess([f])[0].copy() for f in frames] for k, d in dets.items()}
    input_hw = {k: list(t[0].shape[2:]) for k, t in tensors.items()}

    # the paths alternate, best of ``rounds`` each: a shared machine's load comes and goes
    rounds = 1 if args.quick else args.rounds
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for k, det in dets.items():
            session = det.session
            times.setdefault(f"raw_{k}", []).append(
                time_loop(lambda t, s=session: s.run(None, {name: t}), tensors[k], f"raw session.run, {k}")
            )
            times.setdefault(f"nce_{k}", []).append(
                time_loop(lambda f, d=det: d.detect([f]), frames, f"nce detect, {k}")
            )
            times.setdefault(f"pre_{k}", []).append(
                time_loop(lambda f, d=det: d.preprocess([f]), frames, f"nce preprocess, {k}")
            )
    best = {k: min(v) for k, v in times.items()}
    with tempfile.TemporaryDirectory() as tmp:
        frames_file = Path(tmp) / "frames.npy"
        np.save(frames_file, np.stack(frames))
        ul = ultralytics_seconds_per_frame(
            args.model, frames_file, args.conf, args.iou, info.imgsz, rounds, args.threads
        )
    if ul is not None:
        best["ul_square"] = float(ul["square"])
        best["ul_rect"] = float(ul["default"])
        input_hw["ul_square"], input_hw["ul_rect"] = ul["square_input_hw"], ul["default_input_hw"]
    fps = {k: 1 / v for k, v in best.items() if not k.startswith("pre_")}

    def ratio(a: str, b: str) -> float | None:
        return fps[a] / fps[b] if a in fps and b in fps else None

    result: dict[str, Any] = {
        "model": {
            "path": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
            "sha256": info.sha256,
            "imgsz": list(info.imgsz),
            "providers": list(info.providers),
        },
        "input": {
            "video": "vtest.avi",
            "frames": len(frames),
            "frame_hw": list(frames[0].shape[:2]),
            "batch": 1,
            "rounds": rounds,
            "threads": args.threads,
        },
        "input_hw": input_hw,
        "ms_per_frame": {k: v * 1000 for k, v in best.items()},
        "fps": fps,
        "ultralytics": ul,
        # the headline keys, kept from earlier runs: square input, like for like
        "raw_fps": fps["raw_square"],
        "nce_fps": fps["nce_square"],
        "ultralytics_fps": fps.get("ul_square"),
        "ultralytics_default_fps": fps.get("ul_rect"),
        "preprocess_ms": best["pre_square"] * 1000,
        "nce_over_raw": ratio("nce_square", "raw_square"),
        "nce_over_ultralytics": ratio("nce_square", "ul_square"),
        # rect: NCE's default on a dynamic-shape model
        "nce_rect_fps": fps.get("nce_rect"),
        "preprocess_rect_ms": best["pre_rect"] * 1000 if "pre_rect" in best else None,
        "nce_rect_over_raw_rect": ratio("nce_rect", "raw_rect"),
        "nce_rect_over_ultralytics_default": ratio("nce_rect", "ul_rect"),
        "nce_rect_over_nce_square": ratio("nce_rect", "nce_square"),
        "targets": {"nce_over_raw": 0.9, "nce_over_ultralytics": 1.5},
    }
    labels = {
        "raw": "bare session.run",
        "nce": "NCE detector",
        "ul": "Ultralytics predict",
    }
    marks = {"square": "", "rect": "'"}
    rows: list[dict[str, Any]] = []
    for shape in ("square", "rect"):
        for letter, path in (("a", "raw"), ("b", "nce"), ("c", "ul")):
            key = f"{path}_{shape}"
            if key not in fps:
                continue
            extra = ""
            if path == "ul":
                extra = ", rect=False" if shape == "square" else ", its default (rect=True)"
            elif path == "nce" and shape == "rect":
                extra = ", its default on a dynamic model"
            hw = input_hw[key if path == "ul" else shape]
            rows.append(
                {
                    "path": f"({letter}{marks[shape]}) {labels[path]}{extra}",
                    "input h x w": f"{hw[0]}x{hw[1]}" if hw else "",
                    "fps": fps[key],
                    "ms/frame": best[key] * 1000,
                    "NCE fps / this, same input": ratio(f"nce_{shape}", key),
                }
            )
    pre = f"{best['pre_square'] * 1000:.2f} ms square"
    if "pre_rect" in best:
        pre += f", {best['pre_rect'] * 1000:.2f} ms rect"
    notes = (
        f"Model `{result['model']['path']}` at {info.imgsz[0]}x{info.imgsz[1]}, batch 1, CPU, ONNX Runtime "
        f"intra-op threads {args.threads or 'default'}; "
        f"{len(frames)} vtest.avi frames ({frames[0].shape[1]}x{frames[0].shape[0]}). "
        f"Best of {rounds} alternating round(s) per path. Each NCE path is compared with the others on the "
        "same input size: (b)/(a) and (b')/(a') target >= 0.9, (b)/(c) and (b')/(c') target >= 1.5. "
        f"NCE preprocess (letterbox + BGR→RGB CHW 0..1): {pre}. "
    )
    if "nce_rect" in fps:
        notes += f"Rect over square, NCE: {fps['nce_rect'] / fps['nce_square']:.2f}x the frames/s. "
    if ul is not None:
        notes += (
            f"Ultralytics {ul['version']} (the train venv; its ONNX Runtime session on "
            f"{ul.get('ort_intra_op_threads') or 'default'} intra-op thread(s), torch on {ul.get('torch_threads')}); "
            f"its rect input {ul['default_input_hw']} "
            f"{'matches' if ul['default_input_hw'] == input_hw.get('rect') else 'differs from'} NCE's. "
        )
    else:
        notes += "Ultralytics not measured (no .venv-train): no (c) rows and no ratios against it. "
    write_result("detector", result, rows, notes)
    bar_plot(
        RESULTS / "detector.png",
        [r["path"].split(" ", 1)[0] for r in rows],
        [r["fps"] for r in rows],
        "Detector frames/s (batch 1, CPU)",
        "frames/s",
    )
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "input_hw",
                    "ms_per_frame",
                    "nce_over_raw",
                    "nce_rect_over_raw_rect",
                    "nce_over_ultralytics",
                    "nce_rect_over_ultralytics_default",
                    "nce_rect_over_nce_square",
                )
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
