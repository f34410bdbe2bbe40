"""``nce camera snapshot --config FILE --camera ID --out PNG``: one frame from a camera, to draw
zones on (``nce config preview`` draws the config's zones on it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from detector.cli.site_config import CONFIG_PROBLEMS_EXIT, load_or_report


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "camera",
        help="camera tools (a snapshot to draw zones on)",
        description="Camera tools for setting up a site.",
    )
    inner = parser.add_subparsers(dest="camera_command", metavar="ACTION")
    inner.required = True
    snap = inner.add_parser(
        "snapshot",
        help="grab one frame from a camera of the site config into a PNG",
        description=(
            "Grab one frame from a camera of the site config (its stream, video file or image) and "
            "write it as a PNG: the picture to draw zones on; `nce config preview` draws the "
            "config's zones on it."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    snap.add_argument("--config", required=True, type=Path, help="site config YAML")
    snap.add_argument("--camera", required=True, help="camera id")
    snap.add_argument("--out", required=True, type=Path, help="PNG file to write")
    snap.add_argument("--timeout", type=float, default=15.0, metavar="S", help="give up after S seconds")
    snap.set_defaults(func=_snapshot)


def _snapshot(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return CONFIG_PROBLEMS_EXIT
    from detector.preview import grab_frame, write_png

    camera = config.camera(args.camera)
    frame = grab_frame(camera.source, args.timeout)
    write_png(frame, args.out)
    h, w = frame.shape[:2]
    print(f"{args.out}: camera {camera.id} ({camera.name}), {w}x{h}")
    return 0
