"""Event accuracy on the scenario suite: recall, false alarms, time to a confirmed hit.

Scenario clips (``nce data scenario --seed S``: vtest.avi with violations composited in, 90 s, with
``ground_truth.json`` and ``site.yaml``) are rendered once and cached under var/bench/. Each clip goes
through the real ``nce run --config site.yaml --until-eof --out DIR`` (benchmarks/nce_probe.py adds
a sink that records where media time 0 is, so that the events' ``ts`` land on the clip's timeline).

Matching: a ground-truth violation is *found* when a ``confirmed`` event of hits.jsonl has the same
zone and violation and a time within [start_s, end_s + grace_s] (each event matches at most one
violation, earliest first). Event recall is over the violations the scenario expects to confirm
(``expect_hit``: present for at least min_dwell_s + 2 s); a confirmed event that matches no
violation at all is a false alarm. Time to hit = event time - start_s (the floor is the rule's
min_dwell_s: 10 s, 15 s for garbage).

False alarms on untouched footage: vtest.avi's frames from VTEST_TRAIN_FRAMES on (the synthetic
training set used only frames before it), played forward and backward to the scenario length, with
the same site config (zones, rules, dwell times); nothing there is a violation, so every confirmed
event is a false alarm.

Writes results/events.json, results/events.png (timeline: ground truth bars, hit markers) and the
``events`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import yaml

from benchmarks.common import RESULTS, ROOT, VTEST, write_result

CACHE = ROOT / "var" / "bench"


# -- inputs -------------------------------------------------------------------------------------


def scenario(seed: int, duration: float) -> Path:
    """The scenario clip for ``seed`` (rendered once, cached); its folder."""
    out = CACHE / f"scenario-s{seed}" if duration == 90.0 else CACHE / f"scenario-s{seed}-{duration:g}s"
    if (out / "ground_truth.json").is_file() and (out / "scenario.mp4").is_file():
        return out
    print(f"rendering scenario seed {seed} ({duration:g} s) into {out} (once)", file=sys.stderr)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nce",
            "data",
            "scenario",
            "--out",
            str(out),
            "--seed",
            str(seed),
            "--duration",
            f"{duration:g}",
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def heldout_vtest(duration: float) -> tuple[Path, dict[str, Any]]:
    """vtest.avi from VTEST_TRAIN_FRAMES on, ping-ponged to ``duration`` s, H.264; cached."""
    from modeling.synth.backgrounds import VTEST_TRAIN_FRAMES
    from modeling.synth.scenario import pingpong_index

    out = CACHE / f"vtest-heldout-{duration:g}s.mp4"
    cap = cv2.VideoCapture(str(VTEST))
    if not cap.isOpened():
        raise SystemExit(f"cannot read {VTEST}: run `make data`")
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    info = {
        "source": "vtest.avi",
        "frames": [VTEST_TRAIN_FRAMES, total - 1],
        "unique_s": (total - VTEST_TRAIN_FRAMES) / fps,
        "played_s": duration,
        "fps": fps,
        "note": f"frames {VTEST_TRAIN_FRAMES}..{total - 1} (never in the synthetic training set), "
        "played forward and backward",
    }
    if out.is_file():
        cap.release()
        return out, info
    cap.set(cv2.CAP_PROP_POS_FRAMES, VTEST_TRAIN_FRAMES)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    h, w = frames[0].shape[:2]
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is missing: run `make system`")
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}"]
    cmd += ["-r", f"{fps:g}", "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20"]
    cmd += ["-pix_fmt", "yuv420p", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(round(duration * fps)):
        proc.stdin.write(frames[pingpong_index(i, len(frames))].tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        out.unlink(missing_ok=True)
        raise SystemExit(f"ffmpeg failed writing {out}")
    return out, info


# -- one clip -----------------------------------------------------------------------------------


def opened(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: e[k] for k in ("t", "zone_id", "violation", "label")} for e in events if e["event"] == "opened"
    ]


def run_clip(config: dict[str, Any], video: Path, model: Path) -> tuple[list[dict[str, Any]], float, float]:
    """``nce run --until-eof`` on one clip: (events with media time ``t``, wall s, origin)."""
    cfg = dict(config)
    cfg["model"] = {**cfg["model"], "path": str(model)}
    cfg["cameras"] = [{**c, "source": str(video)} for c in cfg["cameras"]]
    with tempfile.TemporaryDirectory(prefix="nce-events-") as tmp:
        path = Path(tmp) / "site.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
        stats, out = Path(tmp) / "stats.json", Path(tmp) / "out"
        cmd = [sys.executable, "-m", "benchmarks.nce_probe", str(stats), "0", "0", "--"]
        cmd += ["run", "--config", str(path), "--until-eof", "--out", str(out)]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if res.returncode != 0 or not stats.is_file():
            raise SystemExit(f"nce run failed on {video} ({res.returncode}):\n{res.stderr[-2000:]}")
        origins = json.loads(stats.read_text())["origins"]
        hits_file = out / "hits.jsonl"
        lines = hits_file.read_text(encoding="utf-8").splitlines() if hits_file.is_file() else []
    events = []
    for line in lines:
        ev = json.loads(line)
        origin = origins.get(ev["camera_id"])
        if origin is None:
            continue
        ts = dt.datetime.fromisoformat(ev["ts"].replace("Z", "+00:00")).timestamp()
        first = dt.datetime.fromisoformat(ev["first_seen"].replace("Z", "+00:00")).timestamp()
        events.append({**ev, "t": round(ts - origin, 3), "first_seen_t": round(first - origin, 3)})
    return events, wall, next(iter(origins.values()), 0.0)


def match(
    truth: list[dict[str, Any]], events: list[dict[str, Any]], grace: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ground truth with ``hit_t`` / ``latency_s`` where found, confirmed events matching none)."""
    confirmed = sorted((e for e in events if e["event"] == "confirmed"), key=lambda e: e["t"])
    used: set[int] = set()
    out = []
    for v in sorted(truth, key=lambda v: v["start_s"]):
        found = None
        for i, e in enumerate(confirmed):
            if i in used or e["zone_id"] != v["zone_id"] or e["violation"] != v["violation"]:
                continue
            if v["start_s"] <= e["t"] <= v["end_s"] + grace:
                found = i
                break
        row = {k: v[k] for k in ("id", "zone_id", "violation", "cls", "start_s", "end_s", "expect_hit")}
        if found is not None:
            used.add(found)
            e = confirmed[found]
            row.update(
                hit_t=e["t"],
                latency_s=round(e["t"] - v["start_s"], 2),
                hit_first_seen_t=e["first_seen_t"],
                label=e["label"],
            )
        out.append(row)
    false_alarms = [
        {k: e[k] for k in ("t", "zone_id", "violation", "label", "score", "first_seen_t")}
        for i, e in enumerate(confirmed)
        if i not in used
    ]
    return out, false_alarms


# -- report -------------------------------------------------------------------------------------


def plot(path: Path, clips: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colours = {
        "out_of_shop_trading": "#4c72b0",
        "street_vending": "#dd8452",
        "piled_goods": "#55a868",
        "illegal_ad": "#8172b2",
        "exposed_garbage": "#937860",
    }
    fig, axes = plt.subplots(len(clips), 1, figsize=(10, 1.0 + 1.35 * len(clips)), dpi=110, squeeze=False)
    for ax, clip in zip(axes[:, 0], clips, strict=True):
        lanes = sorted(
            {(v["zone_id"], v["violation"]) for v in clip["truth"]}
            | {(e["zone_id"], e["violation"]) for e in clip["false_alarms"] + clip["opened"]}
        )
        y = {lane: i for i, lane in enumerate(lanes)}
        for v in clip["truth"]:
            c = colours.get(v["violation"], "grey")
            ax.barh(
                y[(v["zone_id"], v["violation"])], v["end_s"] - v["start_s"], left=v["start_s"], height=0.6,
                color=c, alpha=0.55 if v["expect_hit"] else 0.2, hatch=None if v["expect_hit"] else "//",
                edgecolor=c,
            )  # fmt: skip
            if "hit_t" in v:
                lane = y[(v["zone_id"], v["violation"])]
                ax.plot([v["hit_first_seen_t"], v["hit_t"]], [lane, lane], "-", color="black", lw=0.8)
                ax.plot(v["hit_t"], lane, "v", color="black", ms=8)
        for e in clip["opened"]:
            ax.plot(e["t"], y[(e["zone_id"], e["violation"])], "|", color="grey", ms=10)
        for e in clip["false_alarms"]:
            ax.plot(e["t"], y[(e["zone_id"], e["violation"])], "X", color="#c44e52", ms=9)
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([f"{z} {v}" for z, v in lanes], fontsize=6)
        ax.set_xlim(0, clip["duration_s"])
        ax.set_ylim(-0.7, max(len(lanes), 1) - 0.3)
        recall = (
            f"recall {clip['found']}/{clip['expected']}" if clip["kind"] == "scenario" else "no violations"
        )
        ax.set_title(f"{clip['name']}: {recall}, false alarms {len(clip['false_alarms'])}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel("clip time (s)")
    handles: list[Any] = [Patch(color=c, alpha=0.55, label=v) for v, c in colours.items()]
    handles += [
        Patch(facecolor="white", edgecolor="grey", hatch="//", label="too short to confirm"),
        Line2D(
            [],
            [],
            marker="v",
            color="black",
            ls="",
            label="confirmed hit (line: from its track's first sighting)",
        ),
        Line2D([], [], marker="X", color="#c44e52", ls="", label="false alarm"),
        Line2D([], [], marker="|", color="grey", ls="", ms=10, label="hit opened (not yet confirmed)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "street-v1.onnx")
    parser.add_argument("--seeds", default="1,2,3", help="scenario seeds (one clip each)")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds per clip")
    parser.add_argument("--no-vtest", action="store_true", help="skip the untouched-vtest.avi check")
    parser.add_argument("--quick", action="store_true", help="one scenario clip, no vtest.avi check")
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"model {args.model} does not exist: pass --model PATH")
    model = args.model.resolve()
    seeds = [1] if args.quick else [int(s) for s in args.seeds.split(",")]
    clips: list[dict[str, Any]] = []
    for seed in seeds:
        folder = scenario(seed, args.duration)
        gt = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
        config = yaml.safe_load((folder / "site.yaml").read_text(encoding="utf-8"))
        events, wall, _ = run_clip(config, folder / "scenario.mp4", model)
        truth, false_alarms = match(gt["violations"], events, gt["grace_s"])
        clips.append(
            {
                "name": f"scenario seed {seed}",
                "kind": "scenario",
                "video": str((folder / "scenario.mp4").relative_to(ROOT)),
                "duration_s": gt["duration_s"],
                "wall_s": wall,
                "min_dwell_s": gt["min_dwell_s"],
                "truth": truth,
                "false_alarms": false_alarms,
                "opened": opened(events),
                "expected": sum(1 for v in truth if v["expect_hit"]),
                "found": sum(1 for v in truth if v["expect_hit"] and "hit_t" in v),
                "events": {
                    k: sum(1 for e in events if e["event"] == k) for k in ("opened", "confirmed", "cleared")
                },
            }
        )
        c = clips[-1]
        print(
            f"seed {seed}: {c['found']}/{c['expected']} found, {len(false_alarms)} false alarm(s), {wall:.1f} s",
            file=sys.stderr,
        )
    if not (args.quick or args.no_vtest):
        from modeling.synth.scenario import site_config

        video, info = heldout_vtest(args.duration)
        config = site_config(str(video), str(model))
        events, wall, _ = run_clip(config, video, model)
        _, false_alarms = match([], events, 0.0)
        clips.append(
            {
                "name": "vtest.avi, untouched (held-out frames)",
                "kind": "vtest",
                "video": str(video.relative_to(ROOT)),
                "input": info,
                "duration_s": args.duration,
                "wall_s": wall,
                "truth": [],
                "false_alarms": false_alarms,
                "opened": opened(events),
                "expected": 0,
                "found": 0,
                "events": {
                    k: sum(1 for e in events if e["event"] == k) for k in ("opened", "confirmed", "cleared")
                },
            }
        )
        print(f"vtest held-out: {len(false_alarms)} false alarm(s), {wall:.1f} s", file=sys.stderr)

    scen = [c for c in clips if c["kind"] == "scenario"]
    vt = [c for c in clips if c["kind"] == "vtest"]
    expected = sum(c["expected"] for c in scen)
    found = sum(c["found"] for c in scen)
    latencies = [v["latency_s"] for c in scen for v in c["truth"] if v["expect_hit"] and "latency_s" in v]
    beyond = [
        v["latency_s"] - (c["min_dwell_s"] + (5.0 if v["violation"] == "exposed_garbage" else 0.0))
        for c in scen
        for v in c["truth"]
        if v["expect_hit"] and "latency_s" in v
    ]
    early = [
        f"{c['name']} {v['id']}"
        for c in scen
        for v in c["truth"]
        if "hit_first_seen_t" in v and v["hit_first_seen_t"] < v["start_s"] - 1.0
    ]
    unexpected = sum(1 for c in scen for v in c["truth"] if not v["expect_hit"] and "hit_t" in v)
    scen_hours = sum(c["duration_s"] for c in scen) / 3600.0
    fa_scen = sum(len(c["false_alarms"]) for c in scen)
    fa_vt = sum(len(c["false_alarms"]) for c in vt)
    vt_hours = sum(c["duration_s"] for c in vt) / 3600.0
    summary = {
        "event_recall": found / expected if expected else None,
        "found": found,
        "expected": expected,
        "confirmed_too_short": unexpected,
        "hits_opened_before_appearance": early,
        "false_alarms_scenarios": fa_scen,
        "false_alarms_per_camera_hour_scenarios": fa_scen / scen_hours if scen_hours else None,
        "false_alarms_vtest": fa_vt if vt else None,
        "false_alarms_per_camera_hour_vtest": fa_vt / vt_hours if vt else None,
        "time_to_hit_s_mean": statistics.mean(latencies) if latencies else None,
        "time_to_hit_s_median": statistics.median(latencies) if latencies else None,
        "time_beyond_min_dwell_s_median": statistics.median(beyond) if beyond else None,
        "camera_hours": {"scenarios": scen_hours, "vtest": vt_hours},
    }
    from detector.yolo import YoloDetector

    minfo = YoloDetector(model).info
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "events.png"
    plot(png, clips)
    rows = []
    for c in clips:
        lat = [v["latency_s"] for v in c["truth"] if v["expect_hit"] and "latency_s" in v]
        hours = c["duration_s"] / 3600.0
        rows.append(
            {
                "clip": c["name"],
                "s": c["duration_s"],
                "found / expected": f"{c['found']}/{c['expected']}" if c["kind"] == "scenario" else "–",
                "false alarms": len(c["false_alarms"]),
                "FA / camera-hour": len(c["false_alarms"]) / hours,
                "time to hit s (median)": statistics.median(lat) if lat else None,
                "missed": ", ".join(
                    f"{v['id']} {v['violation']}" for v in c["truth"] if v["expect_hit"] and "hit_t" not in v
                ),
                "run s": c["wall_s"],
            }
        )
    rows.append(
        {
            "clip": "**all scenarios**",
            "s": sum(c["duration_s"] for c in scen),
            "found / expected": f"{found}/{expected}",
            "false alarms": fa_scen,
            "FA / camera-hour": summary["false_alarms_per_camera_hour_scenarios"],
            "time to hit s (median)": summary["time_to_hit_s_median"],
            "missed": "",
            "run s": sum(c["wall_s"] for c in scen),
        }
    )
    result = {
        "quick": args.quick,
        "model": {"path": str(model), "imgsz": list(minfo.imgsz), "sha256": minfo.sha256},
        "input": {
            "scenarios": [c["video"] for c in scen],
            "seeds": seeds,
            "vtest": vt[0]["input"] if vt else None,
        },
        "summary": summary,
        "clips": clips,
        "plot": str(png.relative_to(ROOT)),
    }

    def fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}{unit}"

    notes = (
        f"Model `{model.name}` ({minfo.imgsz[0]}x{minfo.imgsz[1]}, CPU). Each clip: `nce run --until-eof` with the "
        "scenario's site.yaml (detect_fps 2, min_dwell_s 10 s, 15 s for garbage, grace 6 s, conf 0.35). "
        f"**Event recall {found}/{expected}"
        + (f" = {100 * found / expected:.0f} %" if expected else "")
        + f"**; false alarms {fa_scen} in {60 * scen_hours:.1f} camera-minutes of scenarios"
        + (
            f" (zero in so little footage bounds the rate only below {3 / scen_hours:.0f} per camera-hour, 95 %)"
            if fa_scen == 0 and scen_hours
            else ""
        )
        + (
            f", {fa_vt} on untouched vtest.avi ({fmt(summary['false_alarms_per_camera_hour_vtest'], '', 0)} "
            f"per camera-hour; {vt[0]['input']['note']}, {vt[0]['input']['unique_s']:g} s of unique footage "
            f"played for {vt[0]['duration_s']:g} s: a small sample, so the rate is coarse"
            + (
                f"; zero bounds it below {3 / vt_hours:.0f} per camera-hour, 95 %"
                if fa_vt == 0 and vt_hours
                else ""
            )
            + ")"
            if vt
            else ""
        )
        + f". Time from a violation's appearance to its confirmed hit: mean {fmt(summary['time_to_hit_s_mean'], ' s')}, "
        f"median {fmt(summary['time_to_hit_s_median'], ' s')} (median {fmt(summary['time_beyond_min_dwell_s_median'], ' s')} "
        "beyond the rule's min_dwell_s). Found = a `confirmed` event of the same zone and violation within "
        "[start, end + grace]; a confirmed event that matches nothing is a false alarm. Violations shown "
        f"for less than min_dwell_s + 2 s are not expected to confirm ({unexpected} did). "
        + (
            f"Hits whose track began before the violation appeared (an earlier detection in the same zone, "
            f"so confirmed sooner than min_dwell_s after the appearance): {', '.join(early)}. "
            if early
            else ""
        )
        + f"Timeline: `results/{png.name}`."
    )
    if args.quick:
        notes += " (`--quick`: one clip, no vtest.avi check.)"
    path = write_result("events", result, rows, notes)
    print(f"wrote {path} and {png}", file=sys.stderr)


if __name__ == "__main__":
    main()
