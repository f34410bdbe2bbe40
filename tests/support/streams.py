"""Test streams like a city camera: vtest.avi rendered once as 1080p25 H.264 / H.265 with a key
frame every 50 frames (2 s, no B-frames), ~30 s, cached under ``data/streams/`` (shared between
worktrees: written under a temporary name, then renamed).

    python -m tests.support.streams          # render both if missing, print their paths
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VTEST = (
    ROOT / "data" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data" / "vtest.avi"
)
STREAMS = ROOT / "data" / "streams"
GOP = 50
FPS = 25
SECONDS = 30


def encoder_args(codec: str, gop: int, bframes: int = 0) -> list[str]:
    """ffmpeg's encoder options for ``codec`` with a fixed GOP (no scene-cut key frames)."""
    if codec == "h264":
        return [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-bf", str(bframes),
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        ]  # fmt: skip
    if codec == "hevc":
        params = f"keyint={gop}:min-keyint={gop}:bframes={bframes}:scenecut=0:log-level=error"
        return [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-crf",
            "30",
            "-tag:v",
            "hvc1",
            "-x265-params",
            params,
        ]
    raise ValueError(f"codec must be h264 or hevc, got {codec!r}")


def render(
    out: Path, codec: str, *, gop: int, seconds: float, size: str = "1920:1080", bframes: int = 0
) -> Path:
    """vtest.avi at 25 fps scaled to ``size`` as ``codec`` with a key frame every ``gop`` frames,
    written under a temporary name and renamed."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None or not VTEST.is_file():
        raise RuntimeError(f"rendering {out.name} needs ffmpeg and {VTEST} (make system, make data)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-i", str(VTEST), "-t", str(seconds)]
    cmd += ["-vf", f"fps={FPS},scale={size}:flags=bicubic", "-pix_fmt", "yuv420p", "-an"]
    cmd += [*encoder_args(codec, gop, bframes), "-movflags", "+faststart", str(tmp)]
    try:
        subprocess.run(cmd, check=True)
        tmp.replace(out)  # atomic: another worktree never sees a half-written stream
    finally:
        tmp.unlink(missing_ok=True)
    return out


def city_stream(codec: str = "h264", loops: int = 1) -> Path:
    """The cached 1080p25 stream for ``codec`` ('h264' | 'hevc'), rendered on first use; ``loops``
    > 1: that stream repeated end to end (stream copy, cached too) for servers that run longer."""
    once = STREAMS / f"vtest-1080p25-gop{GOP}-{codec}.mp4"
    if not once.is_file():
        render(once, codec, gop=GOP, seconds=SECONDS)
    if loops <= 1:
        return once
    looped = STREAMS / f"{once.stem}-x{loops}.mp4"
    if not looped.is_file():
        tmp = looped.with_name(f".{looped.stem}.{os.getpid()}.tmp.mp4")
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-stream_loop", str(loops - 1), "-i", str(once)]
        try:
            subprocess.run([*cmd, "-c", "copy", "-movflags", "+faststart", str(tmp)], check=True)
            tmp.replace(looped)
        finally:
            tmp.unlink(missing_ok=True)
    return looped


if __name__ == "__main__":
    for name in sys.argv[1:] or ["h264", "hevc"]:
        print(city_stream(name))
