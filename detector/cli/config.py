"""``nce config``: check a site config (``check FILE``), draw its zones on a frame (``preview``), print
its JSON Schema (``schema``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from detector.cli.site_config import CONFIG_PROBLEMS_EXIT, load_or_report
from detector.config import config_warnings
from detector.config.generate import schema_text


def register(sub: Any) -> None:
    parser = sub.add_parser("config", help="site config tools")
    inner = parser.add_subparsers(dest="config_command", metavar="ACTION")
    inner.required = True
    check = inner.add_parser(
        "check",
        help="validate a site config and the files it names; list every problem",
        description=(
            "Validate a site config: every field and cross-reference, then the files it names (the "
            "model loads, the device key parses, the token, camera files and fonts are readable; "
            "relative paths are relative to the config's folder). Exit 2 on any problem."
        ),
    )
    check.add_argument("file", help="site config YAML")
    check.add_argument(
        "--no-files",
        action="store_true",
        help="check the YAML only, not the files it names (a config written before the box has its key)",
    )
    check.set_defaults(func=_check)
    preview = inner.add_parser(
        "preview",
        help="draw a camera's zones, masks and exemptions, with their ids, on a frame (PNG)",
        description=(
            "Draw every zone (by kind, with its shop and exemptions), every mask and their ids on a "
            "frame of the camera: one grabbed from its source, or --frame (a `nce camera snapshot`)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    preview.add_argument("--config", required=True, type=Path, help="site config YAML")
    preview.add_argument("--camera", required=True, help="camera id")
    preview.add_argument("--out", required=True, type=Path, help="PNG file to write")
    preview.add_argument(
        "--frame",
        type=Path,
        default=None,
        help="draw on this image instead of a frame grabbed from the camera",
    )
    preview.set_defaults(func=_preview)
    schema = inner.add_parser("schema", help="print the site config's JSON Schema")
    schema.set_defaults(func=_schema)


def _preview(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return CONFIG_PROBLEMS_EXIT
    from detector.preview import draw_preview, grab_frame, write_png

    camera = config.camera(args.camera)
    frame = grab_frame(str(args.frame) if args.frame else camera.source)
    write_png(draw_preview(frame, camera, config.evidence.font_file), args.out)
    print(f"{args.out}: camera {camera.id}: {len(camera.zones)} zone(s), {len(camera.masks)} mask(s) drawn")
    return 0


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return 0


def _check(args: argparse.Namespace) -> int:
    config = load_or_report(args.file)
    if config is None:
        return CONFIG_PROBLEMS_EXIT
    zones = sum(len(c.zones) for c in config.cameras)
    print(
        f"{args.file}: OK — site {config.site.id} ({config.site.name}): "
        f"{len(config.cameras)} camera(s), {zones} zone(s), {len(config.rules)} rule(s), "
        f"{len(config.shops)} shop(s)"
    )
    for cam in config.cameras:
        kinds = ", ".join(f"{z.id} ({z.kind})" for z in cam.zones) or "no zones"
        masks = f"; {len(cam.masks)} mask(s)" if cam.masks else ""
        print(f"  camera {cam.id} {cam.name} @ {cam.detect_fps:g} fps: {kinds}{masks}")
    for rule in config.rules:
        print(
            f"  rule {rule.violation}: {'/'.join(rule.classes)} in {'/'.join(rule.zone_kinds)} "
            f"for {rule.min_dwell_s:g} s"
        )
    learning = config.learning
    if learning.enabled:
        low, high = learning.low_conf
        print(
            f"  learning: up to {learning.daily_budget} sample(s) per camera and day "
            f"(low_confidence [{low:g}, {high:g}), near_miss, periodic every {learning.periodic_every_s:g} s)"
        )
    for warning in config_warnings(config):
        print(f"  warning: {warning}")
    if args.no_files:
        return 0
    from detector.cli.config_files import check_files

    report = check_files(config, args.file)
    for line in report.found:
        print(f"  file {line}")
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        print(f"{args.file}: {len(report.problems)} problem(s) with the files it names", file=sys.stderr)
        return CONFIG_PROBLEMS_EXIT
    return 0
