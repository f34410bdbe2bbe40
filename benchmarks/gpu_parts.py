"""The parts of benchmarks/bench_gpu.py, each run in its own process under a timeout:

    python -m benchmarks.gpu_parts detector|decode|cameras OUT.json --model M [--dry-run] [--budget-s S]

Each part rewrites ``OUT.json`` after every measurement (``{"rows": [...], "done": bool}``), so a part
cut off by its timeout still leaves what it measured. ``--dry-run`` runs the same code on the CPU
(CPUExecutionProvider, CPU decoding, small sizes): it checks the script, not the GPU.

- ``detector``: :class:`detector.yolo.YoloDetector` on the CUDA and TensorRT execution providers,
  fp32 and fp16 (CUDA: the model converted to fp16 with ONNX Runtime's converter, fp32 inputs and
  outputs kept; TensorRT: ``trt_fp16_enable`` on the fp32 model), batches 1/8/32 of 1080p frames at
  the model's square input (``rect`` off: one TensorRT optimisation profile for batch 1..32, engines
  cached in a temporary folder). Per row: session (and engine) setup seconds, the session alone per
  batch (IO binding, as the detector runs it on CUDA; and ``session.run`` for comparison), and the
  whole ``detect`` (letterbox on the CPU, session, decoding) in frames/s.
- ``decode``: the 1080p25 test streams (H.264, H.265; tests/support/streams.py) decoded every frame
  by PyAV on the CPU and on NVDEC (``HWAccel('cuda')``, frames downloaded to host memory): frames/s
  and CPU seconds per media second for one stream, and the total frames/s of 1, 4, 8 and 16 streams
  decoded at once (one process each).
- ``cameras``: real ``nce run`` processes (benchmarks/nce_probe.py, bench_scaling's measurement) on
  N cameras of the 1080p25 H.264 stream played from a file in real time, detect_fps 2, decoded on
  NVDEC (``decode.hwaccel cuda``), the model on the CUDA provider (TensorRT would build engines for
  each new batch shape while the cameras run); N climbs 8, 16, 32, 48, 64 and stops at the first
  count not held (every camera gets all but one of its samples in the window, frame age p95 <= 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT

BATCHES = (1, 8, 32)
CACHE = ROOT / "var" / "bench"


class Rows:
    """A part's rows, written to its JSON file after each one (kept when the part is cut off)."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, []  # type: list[dict[str, Any]]
        self.save(done=False)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        self.save(done=False)

    def save(self, done: bool) -> None:
        self.path.write_text(json.dumps({"rows": self.rows, "done": done}, indent=2) + "\n", encoding="utf-8")


def timed(fn: Callable[[], Any], min_s: float = 0.5, max_n: int = 200) -> float:
    """Median seconds of ``fn`` over at least 5 calls and ``min_s`` seconds (at most ``max_n``)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < min_s and len(times) < max_n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def stream(codec: str) -> Path:
    from tests.support.streams import city_stream

    return city_stream(codec)


def bgr_frames(n: int) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(stream("h264"))) as c:
        for frame in c.decode(c.streams.video[0]):
            out.append(frame.to_ndarray(format="bgr24"))
            if len(out) == n:
                break
    return out


# -- detector -------------------------------------------------------------------------------------


def fp16_model(model: Path, folder: Path) -> Path:
    """``model`` with fp16 weights and compute, fp32 inputs and outputs (ONNX Runtime's converter)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    out = folder / f"{model.stem}-fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(model)), keep_io_types=True), str(out))
    return out


def part_detector(model: Path, rows: Rows, dry: bool) -> None:
    from detector.yolo import YoloDetector

    batches = (1, 8) if dry else BATCHES
    frames = bgr_frames(max(batches))
    probe = YoloDetector(model, rect=False)
    name, (h, w) = probe.info.input_name, probe.info.imgsz
    del probe
    # most telling first: a part cut off by its timeout loses the last
    cuda, trt = "CUDAExecutionProvider", "TensorrtExecutionProvider"
    runs = (
        [("CPUExecutionProvider", "fp32")]
        if dry
        else [(cuda, "fp32"), (trt, "fp16"), (cuda, "fp16"), (trt, "fp32")]
    )
    with tempfile.TemporaryDirectory(prefix="nce-gpu-") as tmp:
        for provider, precision in runs:
            opts: dict[str, str] = {}
            if provider == "CUDAExecutionProvider":
                opts = {"device_id": "0", "cudnn_conv_algo_search": "EXHAUSTIVE"}
            elif provider == "TensorrtExecutionProvider":
                opts = {
                    "device_id": "0",
                    "trt_fp16_enable": str(precision == "fp16"),
                    "trt_engine_cache_enable": "True",
                    "trt_engine_cache_path": str(Path(tmp) / f"trt-{precision}"),
                    "trt_profile_min_shapes": f"{name}:1x3x{h}x{w}",
                    "trt_profile_opt_shapes": f"{name}:8x3x{h}x{w}",
                    "trt_profile_max_shapes": f"{name}:{max(BATCHES)}x3x{h}x{w}",
                }
            t0 = time.perf_counter()
            try:
                fp16 = provider == "CUDAExecutionProvider" and precision == "fp16"
                path = fp16_model(model, Path(tmp)) if fp16 else model
                # TensorRT leaves the nodes it cannot take to the CUDA provider
                more = [("CUDAExecutionProvider", {"device_id": "0"})] if provider == trt else []
                chosen = [(provider, opts), *more] if opts else [provider]
                det = YoloDetector(path, providers=chosen, rect=False)
                for b in batches:  # builds engines / picks kernels for every batch size
                    det.detect(frames[:b])
            except Exception as exc:  # one provider failing must not lose the others
                rows.add(
                    {"provider": provider, "precision": precision, "error": f"{type(exc).__name__}: {exc}"}
                )
                continue
            setup_s = time.perf_counter() - t0
            for row in measure_batches(det, frames, batches):
                rows.add({"provider": provider, "precision": precision, "setup_s": round(setup_s, 2), **row})
            del det


def measure_batches(det: Any, frames: list[np.ndarray], batches: tuple[int, ...]) -> list[dict[str, Any]]:
    """Per batch size: the session alone (IO binding as the detector runs it on CUDA, and
    ``session.run``) and the whole ``detect``."""
    from detector.yolo_binding import BoundRunner, PlainRunner

    name = det.info.input_name
    plain = PlainRunner(det.session, name)
    bound = (
        det.run_batch if not isinstance(det.run_batch, PlainRunner) else BoundRunner(det.session, name, "cpu")
    )
    out = []
    for b in batches:
        tensor, _ = det.preprocess(frames[:b])
        bound_s = timed(lambda: bound(tensor))  # noqa: B023 (called before the loop moves on)
        plain_s = timed(lambda: plain(tensor))  # noqa: B023
        detect_s = timed(lambda: det.detect(frames[:b]))  # noqa: B023
        out.append({
            "batch": b, "in_use": det.info.providers[0], "session_ms_binding": 1000 * bound_s,
            "session_ms_run": 1000 * plain_s, "session_fps": b / bound_s, "detect_fps": b / detect_s,
        })  # fmt: skip
    return out


# -- decode ---------------------------------------------------------------------------------------


def decode_file(path: str, accel: str, limit: int) -> dict[str, float]:
    """Decode up to ``limit`` frames of ``path`` (every frame), on ``accel`` (cuda | none)."""
    import av
    from av.codec.hwaccel import HWAccel

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    hw = HWAccel("cuda", allow_software_fallback=False) if accel == "cuda" else None
    c0, t0, frames = cpu(), time.perf_counter(), 0
    with av.open(path, hwaccel=hw) as c:
        s = c.streams.video[0]
        on_gpu = bool(s.codec_context.is_hwaccel)
        for _ in c.decode(s):
            frames += 1
            if frames >= limit:
                break
    wall, used = time.perf_counter() - t0, cpu() - c0
    return {"frames": frames, "wall_s": wall, "cpu_s": used, "on_gpu": on_gpu}


def part_decode(rows: Rows, dry: bool) -> None:
    from detector.video.hwaccel import cuda_decode_problem

    limit = 100 if dry else 750  # 30 s of 25 fps
    why = cuda_decode_problem(0)
    accels = ["none"] + (["cuda"] if why is None else [])
    if why is not None:
        rows.add({"accel": "cuda", "error": why})
    for codec in ("h264", "hevc"):
        path = str(stream(codec))
        for accel in accels:
            one = decode_file(path, accel, limit)
            rows.add({
                "codec": codec, "accel": accel, "streams": 1, "on_gpu": one["on_gpu"],
                "fps_total": one["frames"] / one["wall_s"], "x_realtime_per_stream": one["frames"] / one["wall_s"] / 25,
                "cpu_s_per_media_s": one["cpu_s"] / (one["frames"] / 25),
            })  # fmt: skip
            for k in (2,) if dry else (4, 8, 16):
                t0 = time.perf_counter()
                with ProcessPoolExecutor(max_workers=k) as pool:
                    got = list(pool.map(decode_file, [path] * k, [accel] * k, [limit] * k))
                wall = time.perf_counter() - t0  # includes the processes' start: a lower bound
                total = sum(g["frames"] for g in got)
                rows.add({"codec": codec, "accel": accel, "streams": k, "on_gpu": all(g["on_gpu"] for g in got),
                          "fps_total": total / wall, "x_realtime_per_stream": total / wall / 25 / k})  # fmt: skip


# -- cameras --------------------------------------------------------------------------------------


def looped(src: Path, loops: int) -> Path:
    """``src`` repeated ``loops`` times end to end (PyAV stream copy; no ffmpeg CLI needed), cached."""
    import av

    out = CACHE / f"{src.stem}-loop{loops}.mp4"
    if out.is_file():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as dst:
        s = inp.streams.video[0]
        o = dst.add_stream_from_template(s)
        offset = 0
        for _ in range(loops):
            inp.seek(0)
            end = offset
            for p in inp.demux(s):
                if p.dts is None or p.pts is None:
                    continue
                p.pts, p.dts, p.stream = p.pts + offset, p.dts + offset, o
                end = max(end, p.pts + (p.duration or 0))
                dst.mux(p)
            offset = end
    tmp.replace(out)
    return out


def run_cameras(model: Path, video: Path, n: int, dry: bool, warmup: float, window: float) -> dict[str, Any]:
    """One real ``nce run`` on ``n`` file cameras played in real time (bench_scaling's measurement)."""
    import yaml

    from benchmarks.bench_scaling import proc_sample, site_config, summarise

    doc = site_config(model, str(video), n, 2.0)
    if not dry:
        doc["model"]["providers"] = [{"name": "CUDAExecutionProvider", "cudnn_conv_algo_search": "HEURISTIC"}]
        for cam in doc["cameras"]:
            cam["decode"] = {"hwaccel": "cuda"}
    doc["model"]["max_batch"] = 32
    with tempfile.TemporaryDirectory(prefix="nce-gpu-cams-") as tmp:
        cfg, stats = Path(tmp) / "site.yaml", Path(tmp) / "stats.json"
        cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.nce_probe",
            str(stats),
            str(warmup),
            str(window),
            "--",
            "run",
        ]
        cmd += [
            "--config",
            str(cfg),
            "--duration",
            str(warmup + window + 30),
            "--out",
            str(Path(tmp) / "out"),
        ]
        log = Path(tmp) / "run.log"
        mine: list[tuple[float, float, float]] = []
        with log.open("w") as log_file:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
            while proc.poll() is None:
                if (s := proc_sample(proc.pid)) is not None:
                    mine.append(s)
                time.sleep(0.25)
        text = log.read_text(errors="replace")
        if proc.returncode != 0 or not stats.is_file():
            return {"cameras": n, "error": f"nce run failed ({proc.returncode}): {text[-600:]}"}
        return summarise(json.loads(stats.read_text()), mine, [], n, 2.0, text)


def held(run: dict[str, Any]) -> bool:
    window = run["window_s"]
    p95 = run["frame_age_ms_p95"]
    return bool(
        run["achieved_fps_min_camera"] >= (2.0 * window - 1.0) / window and p95 is not None and p95 <= 1000
    )


def part_cameras(model: Path, rows: Rows, dry: bool) -> None:
    video = looped(stream("h264"), 2 if dry else 4)
    for n in (1, 2) if dry else (8, 16, 32, 48, 64):
        run = run_cameras(model, video, n, dry, warmup=10 if dry else 20, window=5 if dry else 20)
        if "error" in run:
            rows.add(run)
            return
        keep = ("cameras", "achieved_fps_min_camera", "decoded_fps_per_camera", "cpu_percent", "rss_mb_peak",
                "frame_age_ms_p50", "frame_age_ms_p95", "mean_batch", "inference_ms_per_batch", "window_s")  # fmt: skip
        row = {k: run[k] for k in keep}
        row["held"] = held(run)
        rows.add(row)
        if not row["held"]:
            return


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=("detector", "decode", "cameras"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "street-v1.onnx")
    parser.add_argument("--dry-run", action="store_true", help="the CPU, small sizes: checks the script only")
    args = parser.parse_args()
    # temporary files (configs, TensorRT engines) under the caller's scratch folder, which it removes
    # even when it had to end this part
    scratch = args.out.parent / f"tmp-{args.part}"
    scratch.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(scratch)
    rows = Rows(args.out)
    if args.part == "detector":
        part_detector(args.model.resolve(), rows, args.dry_run)
    elif args.part == "decode":
        part_decode(rows, args.dry_run)
    else:
        part_cameras(args.model.resolve(), rows, args.dry_run)
    rows.save(done=True)


if __name__ == "__main__":
    main()
