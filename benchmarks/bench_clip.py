"""Evidence clip cost, re-encoded vs remuxed, and the pre-roll ring's memory, decoded vs encoded.

For each camera stream (made with ffmpeg from vtest.avi: 768x576 at 10 fps, and scaled to 1080p at
25 fps, 4 Mbit/s H.264 and 2 Mbit/s H.265; a key frame every 50 frames), the same 10 s clip:

- *re-encode* (today's path, OpenCV cameras): the decoded frames at ``clip_fps`` (5) through
  :class:`~detector.evidence.clip.ClipWriter` (ffmpeg libx264 veryfast): CPU seconds of ffmpeg plus
  the caller's process time;
- *remux* (PyAV cameras): :func:`~detector.video.remux.remux_mp4` of the camera's packets, from the
  key frame before the clip's start: process time (median of 5); target <= 1/10 of the re-encode;
- *preview* (H.265 only): the H.264 browser preview (:func:`~detector.video.remux.h264_preview`);
- *stills*: three stills decoded from the packets (:func:`~detector.video.stills.decode_at`).

Memory per camera: the decoded ring (``clip_pre_s`` + 2 s at ``ring_fps`` 5, BGR, capped at
``ring_max_mb`` 256) against the :class:`~detector.video.ring.PacketRing` keeping the same 7 s from
the key frame before (its peak over the stream) and its hard cap.

``python -m benchmarks.bench_clip [--quick]`` writes results/clip.json and its RESULTS.md section.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks.common import VTEST, write_result
from detector.evidence.clip import ClipWriter
from detector.video.remux import h264_preview, remux_mp4
from detector.video.ring import PacketRing, preroll_cap_bytes
from detector.video.stills import decode_at
from tests.support.encoded import EPOCH, GOP, demux

CLIP_S, CLIP_FPS, KEEP_S, STREAM_S = 10.0, 5.0, 7.0, 14.0
RING_MAX_MB = 256.0
STREAMS: list[dict[str, Any]] = [
    {"name": "768x576 10 fps H.264", "codec": "h264", "size": None, "fps": 10, "bitrate": None},
    {"name": "1080p 25 fps H.264 4 Mbit/s", "codec": "h264", "size": "1920:1080", "fps": 25, "bitrate": "4M"},
    {"name": "1080p 25 fps H.265 2 Mbit/s", "codec": "hevc", "size": "1920:1080", "fps": 25, "bitrate": "2M"},
]


def make_stream(folder: Path, spec: dict[str, Any]) -> Path:
    out = folder / f"{spec['codec']}-{spec['fps']}-{(spec['size'] or 'native').replace(':', 'x')}.mp4"
    filters = [f"fps={spec['fps']}"] + ([f"scale={spec['size']}"] if spec["size"] else [])
    rate = ["-b:v", spec["bitrate"], "-maxrate", spec["bitrate"], "-bufsize", "8M"] if spec["bitrate"] else []
    if spec["codec"] == "h264":
        codec = ["-c:v", "libx264", "-preset", "veryfast", "-g", str(GOP), "-keyint_min", str(GOP),
                 "-sc_threshold", "0", "-bf", "0"]  # fmt: skip
    else:
        codec = ["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params",
                 f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:log-level=error"]  # fmt: skip
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(VTEST), "-t", f"{STREAM_S:g}", "-vf", ",".join(filters),
           *codec, *rate, "-pix_fmt", "yuv420p", "-an", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


def decoded_frames(path: Path, every_s: float, until_s: float) -> list[tuple[float, np.ndarray]]:
    """BGR frames at ``every_s`` (the clip's rate) from the stream's start to ``until_s``."""
    out: list[tuple[float, np.ndarray]] = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            t = float(frame.time or 0.0)
            if t > until_s + 1e-6:
                break
            if not out or t - out[-1][0] >= every_s - 1e-6:
                out.append((t, frame.to_ndarray(format="bgr24")))
    return out


def bench_reencode(folder: Path, path: Path) -> dict[str, float]:
    frames = decoded_frames(path, 1.0 / CLIP_FPS, CLIP_S)
    h, w = frames[0][1].shape[:2]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0, t0 = time.process_time(), time.perf_counter()
    writer = ClipWriter(folder / "reencoded.mp4", start_mono=0.0, fps=CLIP_FPS, frame_hw=(h, w))
    for t, image in frames:
        writer.push(image, t)
    writer.finish()
    clip = writer.wait()
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu + child, "wall_s": wall, "mb": clip.stat().st_size / 1e6}


def bench_stream(folder: Path, spec: dict[str, Any]) -> dict[str, Any]:
    path = make_stream(folder, spec)
    info, packets = demux(path)
    w, h = info.width, info.height
    clip_packets = [p for p in packets if p.wall_time <= EPOCH + CLIP_S + 1e-6]
    reencode = bench_reencode(folder, path)
    remux_cpu = []
    for n in range(5):
        cpu0 = time.process_time()
        result = remux_mp4(info, clip_packets, folder / f"remux-{n}.mp4")
        remux_cpu.append(time.process_time() - cpu0)
    row: dict[str, Any] = {
        "stream": spec["name"],
        "codec": info.codec,
        "source_mbit_s": sum(len(p.data) for p in packets) * 8 / STREAM_S / 1e6,
        "reencode_cpu_s": reencode["cpu_s"],
        "reencode_wall_s": reencode["wall_s"],
        "reencode_mb": reencode["mb"],
        "remux_cpu_s": statistics.median(remux_cpu),
        "remux_mb": result.path.stat().st_size / 1e6,
        "remux_packets": result.packets,
    }
    row["remux_vs_reencode"] = row["remux_cpu_s"] / row["reencode_cpu_s"]
    if info.codec == "hevc":
        cpu0 = time.process_time()
        h264_preview(result.path, folder / "preview.mp4")
        row["preview_cpu_s"] = time.process_time() - cpu0
        row["preview_mb"] = (folder / "preview.mp4").stat().st_size / 1e6
    cpu0 = time.process_time()
    decode_at(info, packets, [EPOCH + 3.0, EPOCH + 6.4, EPOCH + 9.9])
    row["stills_cpu_s"] = time.process_time() - cpu0
    ring = PacketRing("cam", KEEP_S, stream_info=lambda: info)
    peak = 0
    for p in packets:
        ring(p)
        peak = max(peak, ring.bytes)
    row["decoded_ring_mb"] = min(KEEP_S * CLIP_FPS * w * h * 3, RING_MAX_MB * 1e6) / 1e6
    row["encoded_ring_mb_peak"] = peak / 1e6
    row["encoded_ring_cap_mb"] = preroll_cap_bytes(KEEP_S) / 1e6
    row["ring_ratio"] = row["encoded_ring_mb_peak"] / row["decoded_ring_mb"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the 768x576 stream only")
    args = parser.parse_args()
    if not VTEST.is_file():
        sys.exit(f"{VTEST} is missing: make data")
    streams = STREAMS[:1] if args.quick else STREAMS
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_stream(Path(tmp), spec) for spec in streams]
        for row in rows:
            print(row, file=sys.stderr)
    table = [
        {
            "stream": r["stream"],
            "source Mbit/s": r["source_mbit_s"],
            "re-encode CPU s": r["reencode_cpu_s"],
            "remux CPU s": r["remux_cpu_s"],
            "remux / re-encode": r["remux_vs_reencode"],
            "H.265 preview CPU s": r.get("preview_cpu_s"),
            "3 stills CPU s": r["stills_cpu_s"],
            "decoded ring MB": r["decoded_ring_mb"],
            "encoded ring MB (peak)": r["encoded_ring_mb_peak"],
            "encoded ring cap MB": r["encoded_ring_cap_mb"],
        }
        for r in rows
    ]
    worst = max(r["remux_vs_reencode"] for r in rows)
    result = {"streams": rows, "target_remux_vs_reencode": 0.1, "worst_remux_vs_reencode": worst}
    notes = (
        f"The same {CLIP_S:g} s evidence clip. *re-encode*: today's path (OpenCV cameras), decoded frames at "
        f"{CLIP_FPS:g} fps through ffmpeg libx264 veryfast (ffmpeg's CPU + the caller's). *remux*: PyAV "
        "cameras, the camera's packets into MP4 (process time, median of 5), target <= 1/10 of the "
        "re-encode. *H.265 preview*: the H.264 re-encode that goes beside an H.265 original. *stills*: "
        f"three decoded from the packets. Rings per camera for {KEEP_S:g} s (clip_pre_s 5 + 2): decoded = "
        f"BGR at {CLIP_FPS:g} fps (capped at {RING_MAX_MB:g} MB), encoded = packets from the key frame "
        "before the window (peak over the stream), cap = 16 Mbit/s over 7 s + a 10 s group of pictures."
    )
    path = write_result("clip", result, table, notes)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
