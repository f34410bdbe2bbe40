"""Edge pipeline scaling on live streams: 1, 2, 4, 8 and 16 cameras at detect_fps 1 and 2.

Every camera is an RTSP stream of vtest.avi (768x576, 10 fps, H.264) at real time from a
gst-rtsp-server on loopback (tests/support/rtsp_server.py, no re-encoding; each client its own
stream from the file's start; the file is vtest.avi encoded once and looped end to end, longer than
any run). Each configuration is one real ``nce run --duration S --metrics-port 0`` process
(benchmarks/nce_probe.py adds a measuring sink), with the shipped defaults: change gate on,
max_batch 8, the scenario suite's zones and rules. After a warm-up (model load, streams connecting),
over the measuring window:

- achieved detect fps per camera: samples the pipeline took per second and camera (what the rules
  saw), and of those, how many went through the model (the rest the change gate skipped);
- CPU % of the ``nce run`` process (100 % = one core; from /proc, utime + stime) and of the RTSP
  server; RSS of the ``nce run`` process (peak), and per camera;
- frame age after inference: wall time when the pipeline hands an inferred frame to the sinks minus
  the time the reader decoded it (p50 / p95): the latency the pipeline adds before a hit can be
  decided; hit events (none expected on vtest.avi, which has no violations) would report the same;
- gate skip ratio: gate-skipped / sampled.

Writes results/scaling.json, results/scaling.png and the ``scaling`` section of RESULTS.md.

``--stream city-h264|city-hevc --path old,new``: the 1080p25 city streams (GOP 50) instead, the old
reading path (OpenCV, every frame decoded) against the new one (PyAV, decode mode) in one run, each
climbing ``--cameras`` at the first ``--detect-fps``: benchmarks/bench_scaling_1080p.py, section
``scaling-1080p``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import RESULTS, ROOT, VTEST, write_result
from benchmarks.cpu_time import stat_cpu_s
from tests.support.rtsp import MISSING, RtspServer, gst_rtsp_available

CACHE = ROOT / "var" / "bench"


# -- inputs -------------------------------------------------------------------------------------


def looped_vtest(loops: int = 8) -> Path:
    """vtest.avi as H.264 (one keyframe a second, no B-frames), looped ``loops`` times; cached."""
    once, looped = CACHE / "vtest-h264.mp4", CACHE / f"vtest-h264-x{loops}.mp4"
    if looped.is_file():
        return looped
    if not VTEST.is_file():
        raise SystemExit(f"{VTEST} is missing: run `make data`")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is missing: run `make system`")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not once.is_file():
        subprocess.run(
            [
                ffmpeg,
                "-y",
                "-loglevel",
                "error",
                "-i",
                str(VTEST),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "23",
                "-g",
                "10",
                "-bf",
                "0",
                "-pix_fmt",
                "yuv420p",
                str(once),
            ],
            check=True,
        )
    subprocess.run(
        [
            ffmpeg,
            "-y",
            "-loglevel",
            "error",
            "-stream_loop",
            str(loops - 1),
            "-i",
            str(once),
            "-c",
            "copy",
            str(looped),
        ],
        check=True,
    )
    return looped


def site_config(model: Path, url: str, cameras: int, detect_fps: float) -> dict[str, Any]:
    """The scenario suite's zones and rules on ``cameras`` cameras of the same stream."""
    from modeling.synth.scenario import site_config as scenario_config

    doc = scenario_config(url, str(model))
    cam = doc["cameras"][0]
    doc["shops"] = doc.get("shops", [])
    doc["cameras"] = [
        {**cam, "id": f"cam-{i:02d}", "name": f"cam {i}", "source": url, "detect_fps": detect_fps}
        for i in range(cameras)
    ]
    # zone ids are unique per site: suffix them per camera (a shop frontage keeps its shop)
    for i, c in enumerate(doc["cameras"]):
        c["zones"] = [{**z, "id": f"{z['id']}-c{i:02d}"} for z in cam["zones"]]
    return doc


# -- /proc sampling -----------------------------------------------------------------------------


def proc_sample(pid: int) -> tuple[float, float, float] | None:
    """(wall time, CPU seconds (user + system), RSS bytes) of one process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    cpu = stat_cpu_s(stat)
    rss = 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = float(line.split()[1]) * 1024
    return time.time(), cpu, rss


def cpu_percent(samples: list[tuple[float, float, float]], t0: float, t1: float) -> float | None:
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2:
        return None
    return 100.0 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


# -- one configuration --------------------------------------------------------------------------


def run_config(
    model: Path,
    server: RtspServer,
    cameras: int,
    detect_fps: float,
    warmup: float,
    window: float,
    path: str = "new",
    evidence: bool = False,
) -> dict[str, Any]:
    """One ``nce run``; ``evidence``: with a device key, so the evidence packager runs (its pre-roll:
    the packet ring on PyAV cameras, the decoded ring on OpenCV ones), as on a deployed box."""
    with tempfile.TemporaryDirectory(prefix="nce-scaling-") as tmp:
        cfg = Path(tmp) / "site.yaml"
        doc = site_config(model, server.url, cameras, detect_fps)
        if evidence:
            from nce.manifest import generate_private_key, save_private_key

            key_file = Path(tmp) / "edge-bench.key"
            save_private_key(generate_private_key(), key_file)
            doc["device"] = {"id": "edge-bench", "key_file": str(key_file)}
        cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        stats = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-m", "benchmarks.nce_probe", str(stats), str(warmup), str(window), "--"]
        # the probe stops the run after its window; --duration is the backstop
        cmd += ["run", "--config", str(cfg), "--duration", str(warmup + window + 30), "--metrics-port", "0"]
        cmd += ["--out", str(Path(tmp) / "out")]
        log = Path(tmp) / "run.log"
        with log.open("w") as log_file:
            env = {**os.environ, "NCE_PROBE_PATH": path}
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
            mine: list[tuple[float, float, float]] = []
            srv: list[tuple[float, float, float]] = []
            while proc.poll() is None:
                if (s := proc_sample(proc.pid)) is not None:
                    mine.append(s)
                if (s := proc_sample(server.proc.pid)) is not None:
                    srv.append(s)
                time.sleep(0.25)
        text = log.read_text(errors="replace")
        if proc.returncode != 0 or not stats.is_file():
            raise SystemExit(f"nce run failed ({proc.returncode}) with {cameras} cameras:\n{text[-2000:]}")
        doc = json.loads(stats.read_text())
    return {"path": path, **summarise(doc, mine, srv, cameras, detect_fps, text)}


def summarise(
    doc: dict[str, Any],
    mine: list[tuple[float, float, float]],
    srv: list[tuple[float, float, float]],
    cameras: int,
    detect_fps: float,
    log_text: str,
) -> dict[str, Any]:
    start, end, window = doc["start"], doc["end"], doc["window_s"]
    if not start or window <= 0:
        raise SystemExit("the run ended before its measuring window opened: raise --warmup/--seconds")

    def per_camera(name: str) -> list[float]:
        return [(end[name][c] - start[name][c]) / window for c in sorted(end[name])]

    sampled = per_camera("nce_frames_sampled_total")
    inferred = per_camera("nce_frames_inferred_total")
    skipped = per_camera("nce_frames_gate_skipped_total")
    decoded = per_camera("nce_frames_decoded_total")
    packets = per_camera("nce_packets_total") if "nce_packets_total" in end else [0.0]
    n_batches = end["nce_batch_size_count"] - start["nce_batch_size_count"]
    frames_in_batches = end["nce_batch_size_sum"] - start["nce_batch_size_sum"]
    infer_s = end["nce_inference_seconds_sum"] - start["nce_inference_seconds_sum"]
    ages = sorted(doc["ages_s"])
    t0, t1 = start["t"], end["t"]
    rss = [s[2] for s in mine if t0 <= s[0] <= t1] or [s[2] for s in mine]
    errors = sum(end["nce_read_errors_total"].values()) + sum(end["nce_reconnects_total"].values())

    def pct(values: list[float], q: float) -> float | None:
        return 1000.0 * values[min(len(values) - 1, int(q * len(values)))] if values else None

    hits = [h for h in doc["hits"] if h["event"] == "confirmed"]
    return {
        "cameras": cameras,
        "detect_fps": detect_fps,
        "window_s": window,
        "all_up_s": doc["all_up_s"],
        "decoded_fps_per_camera": statistics.mean(decoded),
        "packets_per_s_per_camera": statistics.mean(packets),
        "achieved_fps_per_camera": statistics.mean(sampled),
        "achieved_fps_min_camera": min(sampled),
        "achieved_fps_cameras": sampled,
        "inferred_fps_cameras": inferred,
        "inferred_fps_per_camera": statistics.mean(inferred),
        "gate_skip_ratio": sum(skipped) / max(sum(sampled), 1e-9),
        "achieved_ratio": statistics.mean(sampled) / detect_fps,
        "cpu_percent": cpu_percent(mine, t0, t1),
        "server_cpu_percent": cpu_percent(srv, t0, t1),
        "rss_mb_peak": max(rss) / 1e6 if rss else None,
        "rss_mb_per_camera": max(rss) / 1e6 / cameras if rss else None,
        "frame_age_ms_p50": pct(ages, 0.5),
        "frame_age_ms_p95": pct(ages, 0.95),
        "frame_age_ms_max": 1000.0 * ages[-1] if ages else None,
        "inferred_frames": len(ages),
        "mean_batch": frames_in_batches / n_batches if n_batches else None,
        "inference_ms_per_batch": 1000.0 * infer_s / n_batches if n_batches else None,
        "hit_events": len(doc["hits"]),
        "frame_to_hit_ms_p50": 1000.0 * statistics.median(h["age_s"] for h in hits) if hits else None,
        "read_errors_and_reconnects": errors,
        "decode_modes": sorted({str(m) for m in doc.get("decode_modes", {}).values()}),
        "load_average_1m_after": os.getloadavg()[0],
    }


# -- report -------------------------------------------------------------------------------------


def plot(path: Path, runs: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    colours = {1.0: "#4c72b0", 2.0: "#c44e52"}
    for fps in sorted({r["detect_fps"] for r in runs}):
        rs = sorted((r for r in runs if r["detect_fps"] == fps), key=lambda r: r["cameras"])
        xs = [r["cameras"] for r in rs]
        c = colours.get(fps)
        ax.plot(xs, [r["achieved_fps_per_camera"] for r in rs], "o-", color=c, label=f"detect_fps {fps:g}")
        ax.plot(xs, [r["inferred_fps_per_camera"] for r in rs], "x:", color=c, label="  of which inferred")
        ax.axhline(fps, color=c, lw=0.8, ls="--")
        ax2.plot(xs, [r["cpu_percent"] or 0 for r in rs], "o-", color=c, label=f"CPU %, detect_fps {fps:g}")
        ax2.plot(
            xs,
            [r["frame_age_ms_p50"] or 0 for r in rs],
            "s--",
            color=c,
            label=f"frame age p50 ms, detect_fps {fps:g}",
        )
    for a in (ax, ax2):
        a.set_xscale("log", base=2)
        a.set_xticks(sorted({r["cameras"] for r in runs}))
        a.set_xticklabels([str(x) for x in sorted({r["cameras"] for r in runs})])
        a.set_xlabel("cameras (RTSP, 768x576 @ 10 fps)")
        a.legend(fontsize=7)
    ax.set_ylabel("achieved detect fps per camera")
    ax.set_ylim(bottom=0)
    ax.set_title("achieved vs asked (dashed)")
    ax2.set_title("nce run: CPU % (100 = 1 core), frame age")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "street-v1.onnx")
    parser.add_argument("--cameras", default="1,2,4,8,16", help="comma-separated camera counts")
    parser.add_argument("--detect-fps", default="1,2", help="comma-separated detect_fps values")
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring window per configuration")
    parser.add_argument(
        "--warmup", type=float, default=90.0, help="at most this long for every stream to come up"
    )
    parser.add_argument("--quick", action="store_true", help="1 and 2 cameras at detect_fps 2, 5 s each")
    parser.add_argument(
        "--stream",
        choices=["vtest", "city-h264", "city-hevc"],
        default="vtest",
        help="city-*: the 1080p25 city streams (GOP 50; section scaling-1080p)",
    )
    parser.add_argument(
        "--path",
        default="new",
        help="old (OpenCV, every frame decoded), new (PyAV, decode mode), or old,new: both in one run",
    )
    args = parser.parse_args()
    if args.stream != "vtest":
        from benchmarks.bench_scaling_1080p import main_1080p

        main_1080p(args)
        return
    if not args.model.is_file():
        raise SystemExit(f"model {args.model} does not exist: pass --model PATH")
    model = args.model.resolve()
    counts = [1, 2] if args.quick else [int(c) for c in args.cameras.split(",")]
    rates = [2.0] if args.quick else [float(f) for f in args.detect_fps.split(",")]
    window = 5.0 if args.quick else args.seconds
    warmup = 30.0 if args.quick else args.warmup
    video = looped_vtest()
    load_before = os.getloadavg()
    if not gst_rtsp_available():
        raise SystemExit(MISSING)
    server = RtspServer("--file", str(video), path="/vtest").start()
    runs = []
    try:
        for fps in rates:
            for n in counts:
                run = run_config(model, server, n, fps, warmup, window)
                runs.append(run)
                print(
                    f"{n:2d} camera(s) @ {fps:g} fps: achieved {run['achieved_fps_per_camera']:.2f}/camera "
                    f"(inferred {run['inferred_fps_per_camera']:.2f}), CPU {run['cpu_percent'] or 0:.0f} %, "
                    f"RSS {run['rss_mb_peak'] or 0:.0f} MB, frame age p50 {run['frame_age_ms_p50'] or 0:.0f} ms",
                    file=sys.stderr,
                )
    finally:
        server.stop()
    load_after = os.getloadavg()
    from detector.yolo import YoloDetector

    info = YoloDetector(model).info
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "scaling.png"
    plot(png, runs)
    rows = [
        {
            "cameras": r["cameras"],
            "detect_fps": r["detect_fps"],
            "up s": r["all_up_s"],
            "achieved fps/cam": r["achieved_fps_per_camera"],
            "min cam": r["achieved_fps_min_camera"],
            "inferred fps/cam": r["inferred_fps_per_camera"],
            "gate skip": f"{100 * r['gate_skip_ratio']:.0f} %",
            "CPU %": r["cpu_percent"],
            "server CPU %": r["server_cpu_percent"],
            "RSS MB": r["rss_mb_peak"],
            "RSS MB/cam": r["rss_mb_per_camera"],
            "frame age p50 ms": r["frame_age_ms_p50"],
            "p95 ms": r["frame_age_ms_p95"],
            "mean batch": r["mean_batch"],
            "ms/batch": r["inference_ms_per_batch"],
        }
        for r in runs
    ]
    one = {r["detect_fps"]: r["rss_mb_peak"] for r in runs if r["cameras"] == min(counts)}
    marginal = {
        f"{fps:g}": (r["rss_mb_peak"] - one[fps]) / (r["cameras"] - min(counts))
        for r in runs
        for fps in [r["detect_fps"]]
        if r["cameras"] == max(counts) and max(counts) > min(counts) and r["rss_mb_peak"] and one.get(fps)
    }
    held = {
        f"{fps:g}": max(
            (r["cameras"] for r in runs if r["detect_fps"] == fps and r["achieved_ratio"] >= 0.95), default=0
        )
        for fps in rates
    }
    result = {
        "quick": args.quick,
        "model": {"path": str(model), "imgsz": list(info.imgsz), "sha256": info.sha256},
        "input": {
            "source": "vtest.avi (768x576, 10 fps) as H.264 over RTSP (TCP) from gst-rtsp-server on loopback",
            "video": str(video.relative_to(ROOT)),
        },
        "warmup_s": warmup,
        "window_s": window,
        "runs": runs,
        "cameras_held_at_95pct": held,
        "rss_mb_per_extra_camera": marginal,
        "load_average": {"before": load_before, "after": load_after},
        "plot": str(png.relative_to(ROOT)),
    }
    notes = (
        f"Model `{model.name}` at {info.imgsz[0]}x{info.imgsz[1]}, CPU (ONNX Runtime defaults), max_batch 8, "
        f"change gate on (defaults: re-check every 10 s). Each row: one `nce run` process; its "
        f"{window:g} s window opens 1 s after every stream is up (*up s*: from start to all streams up; OpenCV's FFmpeg backend opens one stream at a time, and each "
        "open probes 32 KB of the stream: ~0.2 s a camera here, where FFmpeg's default 5 MB probe took ~3 s); "
        "every camera is vtest.avi (768x576, 10 fps, H.264) over RTSP/TCP at real "
        "time from gst-rtsp-server on loopback (tests/support/rtsp_server.py, which shares the cores). "
        "*achieved* = samples per second and camera the pipeline took (live readers keep the newest "
        "sample, so a slow loop drops samples rather than queueing); *inferred* = those that went through "
        "the model, the rest the change gate skipped (*gate skip* = skipped / sampled; people walk "
        "through vtest.avi's whole view). CPU % of the `nce run` process, 100 = one core (the machine has "
        f"{os.cpu_count()}). RSS = peak of the process; per camera = RSS / cameras"
        + (
            "; extra RSS per camera above the smallest run: "
            + ", ".join(f"{v:.0f} MB at {k} fps" for k, v in marginal.items())
            if marginal
            else ""
        )
        + ". Frame age = wall time when an inferred frame reaches the sinks (after gate, batched detector, "
        "tracker, rules) minus when the reader decoded it: what the pipeline adds before a hit is "
        "decided (vtest.avi has no violations, so no frame-to-hit latency here; the event benchmark "
        "measures time to confirmed hit). Cameras held at >= 95 % of the asked rate: "
        + ", ".join(f"{n} at {k} fps" for k, v in held.items() for n in [v])
        + f". Load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after. "
        f"Plot: `results/{png.name}`."
    )
    if args.quick:
        notes += " (`--quick`: 1 and 2 cameras at 2 fps, 5 s windows.)"
    path = write_result("scaling", result, rows, notes)
    print(f"wrote {path} and {png}", file=sys.stderr)


if __name__ == "__main__":
    main()
