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

_ENCODERS = {
    "h264": [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-bf", "0",
        "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
    ],
    "hevc": [
        "-c:v", "libx265", "-preset", "ultrafast", "-crf", "30", "-tag:v", "hvc1",
        "-x265-params", f"keyint={GOP}:min-keyint={GOP}:bframes=0:scenecut=0:log-level=error",
    ],
}  # fmt: skip


def city_stream(codec: str = "h264") -> Path:
    """The cached 1080p25 stream for ``codec`` ('h264' | 'hevc'), rendered on first use."""
    if codec not in _ENCODERS:
        raise ValueError(f"codec must be one of {sorted(_ENCODERS)}, got {codec!r}")
    out = STREAMS / f"vtest-1080p25-gop{GOP}-{codec}.mp4"
    if out.is_file():
        return out
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None or not VTEST.is_file():
        raise RuntimeError(f"rendering {out.name} needs ffmpeg and {VTEST} (make system, make data)")
    STREAMS.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.mp4")
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-i", str(VTEST), "-t", str(SECONDS)]
    cmd += ["-vf", f"fps={FPS},scale=1920:1080:flags=bicubic", "-pix_fmt", "yuv420p", "-an"]
    cmd += [*_ENCODERS[codec], "-movflags", "+faststart", str(tmp)]
    try:
        subprocess.run(cmd, check=True)
        tmp.replace(out)  # atomic: another worktree never sees a half-written stream
    finally:
        tmp.unlink(missing_ok=True)
    return out


if __name__ == "__main__":
    for name in sys.argv[1:] or list(_ENCODERS):
        print(city_stream(name))
