"""``nce data``: synthetic training data and scenario clips for the street-violation detector."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from modeling.progress import progress_bar


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("data", help="synthesise training data and scenario clips on real footage")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True

    s = sub.add_parser("synth", help="a YOLO dataset of composited violations on real backgrounds")
    s.add_argument("--out", required=True, help="an empty folder for images/, labels/, data.yaml")
    s.add_argument("--n", type=int, required=True, help="number of images")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--val", type=float, default=0.15, help="fraction held out for validation")
    s.add_argument("--size", default="640x480", help="image size WxH")
    s.add_argument("--negatives", type=float, default=0.08, help="fraction of images without objects")
    s.add_argument(
        "--pedestrians",
        type=float,
        default=0.5,
        help="fraction of images with real pedestrians pasted in front (0 reproduces street-v1's first stage)",
    )
    s.add_argument(
        "--domain",
        choices=("default", "shifted"),
        default="default",
        help="backgrounds, lighting, object looks and camera height (modeling/synth/domain.py); "
        "shifted: a domain held apart from the shipped model's training data",
    )
    s.add_argument("--source-data", default=None, help="opencv-doc sample data folder (default: make data's)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=_synth)

    c = sub.add_parser("scenario", help="a clip on vtest.avi where violations come and go, with ground truth")
    c.add_argument("--out", required=True, help="folder for scenario.mp4, ground_truth.json, site.yaml")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--duration", type=float, default=90.0, help="seconds")
    c.add_argument("--fps", type=float, default=10.0)
    c.add_argument("--model", default="models/street-v1.onnx", help="model path written into site.yaml")
    c.add_argument("--source-data", default=None, help="opencv-doc sample data folder (default: make data's)")
    c.add_argument("--json", action="store_true", help="print the ground truth as JSON")
    c.set_defaults(func=_scenario)


def _parse_size(text: str) -> tuple[int, int]:
    from detector.errors import DataError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise DataError(f"--size must look like 640x480, got {text!r}") from exc
    return w, h


def _synth(args: argparse.Namespace) -> int:
    from modeling.synth.dataset import synth_dataset
    from modeling.synth.domain import DOMAINS

    console = Console(stderr=True)
    with progress_bar("synth", console=console, quiet=args.json) as bar:
        task = bar.add_task("synth", total=args.n)
        summary = synth_dataset(
            args.out,
            args.n,
            seed=args.seed,
            val_fraction=args.val,
            size=_parse_size(args.size),
            negatives=args.negatives,
            pedestrians=args.pedestrians,
            data=args.source_data,
            progress=lambda i: bar.update(task, completed=i),
            domain=DOMAINS[args.domain],
        )
    if args.json:
        print(summary.model_dump_json(indent=2))
        return 0
    table = Table(
        title=f"{summary.out}: {summary.images['train']} train + {summary.images['val']} val images"
    )
    table.add_column("class")
    table.add_column("objects", justify="right")
    for name, n in summary.objects.items():
        table.add_row(name, str(n))
    table.add_row("(images without objects)", str(summary.negatives))
    console.print(table)
    console.print(f"backgrounds: {summary.backgrounds}; CJK faces: {summary.fonts}; {summary.seconds:.1f} s")
    console.print(f"data.yaml: {summary.data_yaml}; preview: {summary.out}/preview.png")
    console.print(f"dataset sha256: {summary.dataset_sha256}")
    return 0


def _scenario(args: argparse.Namespace) -> int:
    from modeling.synth.scenario import render_scenario

    console = Console(stderr=True)
    with progress_bar("render", console=console, quiet=args.json) as bar:
        task = bar.add_task("render", total=None)

        def progress(i: int, total: int) -> None:
            bar.update(task, completed=i, total=total)

        gt = render_scenario(
            args.out,
            seed=args.seed,
            duration_s=args.duration,
            fps=args.fps,
            model_path=args.model,
            data=args.source_data,
            progress=progress,
        )
    if args.json:
        print(gt.model_dump_json(indent=2))
        return 0
    table = Table(
        title=f"{gt.video}: {gt.duration_s:.0f} s at {gt.fps:g} fps, {len(gt.violations)} violations"
    )
    for col in ("id", "zone", "class", "violation", "start_s", "end_s"):
        table.add_column(col)
    for v in gt.violations:
        table.add_row(v.id, v.zone_id, v.cls, v.violation, f"{v.start_s:.1f}", f"{v.end_s:.1f}")
    console.print(table)
    console.print(f"ground truth: {gt.ground_truth}; site config: {gt.site_config}")
    return 0
