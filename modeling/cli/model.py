"""``nce model``: train, export, evaluate, false-positive-check, compare (the evaluation gate) and release
NCE's own detector."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from detector.config import DEFAULT_CONF
from detector.errors import DataError
from modeling.blend import MAX_LOSS, BlendResult
from modeling.finetune import (
    FINETUNE_EPOCHS,
    FINETUNE_FREEZE,
    FINETUNE_IMGSZ,
    FINETUNE_MODEL,
    FINETUNE_WARMUP,
    REPLAY_N,
    REPLAY_SEED,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("model", help="train / export / evaluate the street-violation detector")
    sub = p.add_subparsers(dest="model_command", metavar="ACTION")
    sub.required = True

    t = sub.add_parser(
        "train",
        help="train on a YOLO data.yaml, or fine-tune on a frame-pool export with replay (needs the `train` extra)",
    )
    t.add_argument("--data", help="data.yaml (from `nce data synth` or your own labels)")
    t.add_argument(
        "--dataset",
        metavar="EXPORT_DIR",
        help="fine-tune on an `nce dataset export` folder, with synthetic replay (defaults below change: "
        "--model models/street-v1.onnx --imgsz 480 --epochs 10 --warmup-epochs 0.5)",
    )
    t.add_argument(
        "--replay",
        metavar="SYNTH_DIR",
        action="append",
        default=[],
        help="with --dataset: a synthetic set (`nce data synth`) trained and validated on alongside (repeatable; "
        "default: one of --replay-n images made once under --out and reused)",
    )
    t.add_argument(
        "--replay-n",
        type=int,
        default=None,
        help=f"images in the default replay set (default {REPLAY_N})",
    )
    t.add_argument(
        "--replay-seed",
        type=int,
        default=None,
        help=f"seed of the default replay set (default {REPLAY_SEED})",
    )
    t.add_argument(
        "--no-replay",
        action="store_true",
        help="with --dataset: train on the export alone (the model forgets the original domain)",
    )
    t.add_argument(
        "--resume", metavar="LAST_PT", help="continue a run from its last.pt (--epochs: new total)"
    )
    t.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"total epochs (default 50; {FINETUNE_EPOCHS} with --dataset)",
    )
    t.add_argument(
        "--imgsz", type=int, default=None, help=f"input size (default 384; {FINETUNE_IMGSZ} with --dataset)"
    )
    t.add_argument(
        "--model",
        default=None,
        help="architecture yaml (from scratch), or .pt / exported .onnx weights to fine-tune "
        f"(default yolo11n.yaml; {FINETUNE_MODEL} with --dataset)",
    )
    t.add_argument(
        "--arch",
        default=None,
        help="architecture yaml of an .onnx --model (default: read from its export metadata)",
    )
    t.add_argument(
        "--warmup-epochs",
        type=float,
        default=None,
        help="learning-rate warm-up (Ultralytics' default 3; 0.5-1 suits a fine-tune of trained weights; "
        f"{FINETUNE_WARMUP} with --dataset)",
    )
    t.add_argument(
        "--freeze",
        type=int,
        default=None,
        help="keep the first N modules as they are, weights and batch-norm statistics (YOLO11's backbone "
        f"is 10; default 0; {FINETUNE_FREEZE} with --dataset)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--device", default="cpu", help="cpu, or a CUDA index such as 0")
    t.add_argument("--threads", type=int, default=None, help="CPU threads for training (default: all cores)")
    t.add_argument("--out", default="runs/train", help="folder for the run")
    t.add_argument("--name", default="street", help="run name under --out")
    t.add_argument("--no-cache", action="store_true", help="do not cache images in RAM")
    t.add_argument("--json", action="store_true", help="print the result as JSON")
    t.set_defaults(func=_train)

    e = sub.add_parser("export", help="export trained weights to ONNX (class names in the metadata)")
    e.add_argument("--weights", required=True)
    e.add_argument("--out", required=True, help="the .onnx file to write, e.g. models/street-v1.onnx")
    e.add_argument("--imgsz", type=int, default=384)
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--static", action="store_true", help="fixed batch and size (default: dynamic axes)")
    e.add_argument("--half", action="store_true", help="fp16 weights")
    e.add_argument(
        "--blend",
        default="auto",
        help="weights from `nce model train --dataset`: blend with the model the fine-tune started from so "
        "that it does not forget (auto: the alpha with the best city val among those losing at most "
        "--blend-max-loss replay-val mAP50; off; or an alpha in (0, 1]); the export as trained is kept as "
        "NAME.unblended.onnx (default auto)",
    )
    e.add_argument(
        "--blend-max-loss",
        type=float,
        default=MAX_LOSS,
        help=f"replay-val mAP50 a blend may lose against the base model (default {MAX_LOSS})",
    )
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_export)

    v = sub.add_parser("eval", help="mAP / precision / recall with NCE's own ONNX runtime")
    v.add_argument("--model", required=True, help=".onnx model")
    v.add_argument("--data", required=True, help="dataset folder (or its data.yaml)")
    v.add_argument("--split", default="val")
    v.add_argument("--conf", type=float, default=0.001, help="score threshold for mAP (standard: 0.001)")
    v.add_argument("--iou", type=float, default=0.6, help="NMS IoU")
    v.add_argument(
        "--pr-conf", type=float, default=0.25, help="threshold at which precision/recall are given"
    )
    v.add_argument("--batch", type=int, default=8)
    v.add_argument("--json", action="store_true", help="one JSON object on stdout")
    v.set_defaults(func=_eval)

    f = sub.add_parser("fpcheck", help="detections per 100 frames on footage with no violations")
    f.add_argument("--model", required=True, help=".onnx model")
    f.add_argument("--video", default=None, help="video (default: vtest.avi from `make data`)")
    f.add_argument(
        "--conf",
        type=float,
        default=DEFAULT_CONF,
        help=f"score threshold (default {DEFAULT_CONF}: what nce run applies unless model.conf is set)",
    )
    f.add_argument("--iou", type=float, default=0.45)
    f.add_argument("--start", type=int, default=0, help="first frame")
    f.add_argument("--end", type=int, default=None, help="frame after the last one")
    f.add_argument("--stride", type=int, default=1, help="use every n-th frame")
    f.add_argument("--batch", type=int, default=8)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=_fpcheck)

    from modeling.cli import release

    release.register(sub)  # compare (the evaluation gate) and release


def _train(args: argparse.Namespace) -> int:
    from modeling.training import TrainResult, resume, train

    given = [f"--{k}" for k in ("data", "dataset", "resume") if getattr(args, k)]
    if len(given) > 1:
        raise DataError(f"{' and '.join(given)} exclude each other: give one")
    extra = [f for f, v in (("--replay", args.replay), ("--replay-n", args.replay_n is not None),
                            ("--replay-seed", args.replay_seed is not None), ("--no-replay", args.no_replay)) if v]  # fmt: skip
    if not args.dataset and extra:
        raise DataError(f"{extra[0]} goes with --dataset EXPORT_DIR")
    if (args.replay or args.no_replay) and (args.replay_n is not None or args.replay_seed is not None):
        raise DataError(
            "--replay-n and --replay-seed make the default replay set: not with --replay or --no-replay"
        )
    if args.dataset:
        from modeling.cli.finetune import run_finetune

        return run_finetune(args)
    res: TrainResult
    if args.resume:
        res = resume(args.resume, epochs=args.epochs, workers=args.workers, threads=args.threads)
    elif not args.data:
        raise DataError("--data or --dataset is required (or --resume LAST_PT)")
    else:
        res = train(
            args.data,
            epochs=args.epochs or 50,
            imgsz=args.imgsz or 384,
            model=args.model or "yolo11n.yaml",
            seed=args.seed,
            out=args.out,
            name=args.name,
            batch=args.batch,
            workers=args.workers,
            device=args.device,
            cache=not args.no_cache,
            threads=args.threads,
            arch=args.arch,
            warmup_epochs=args.warmup_epochs,
            freeze=args.freeze,
        )
    if args.json:
        print(res.model_dump_json(indent=2))
    else:
        Console(stderr=True).print(
            f"[green]trained[/] {res.epochs} epochs in {res.seconds:.0f} s → {res.weights}"
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    from modeling.blend import blend_finetune, check_export_target, parse_blend
    from modeling.training import export

    mode = parse_blend(args.blend)
    if not 0.0 <= args.blend_max_loss < 1.0:
        raise DataError(f"--blend-max-loss must be in [0, 1), got {args.blend_max_loss}")
    check_export_target(Path(args.weights), Path(args.out), mode)
    res = export(
        args.weights, args.out, imgsz=args.imgsz, opset=args.opset, dynamic=not args.static, half=args.half
    )
    console = Console(stderr=True)
    with console.status("blending with the model the fine-tune started from", spinner="dots"):
        res.blend = blend_finetune(Path(args.weights), Path(res.onnx), mode, args.blend_max_loss)
    if args.json:
        print(res.model_dump_json(indent=2))
        return 0
    console.print(f"[green]exported[/] {res.onnx} ({res.bytes / 1e6:.1f} MB, classes {res.names})")
    if res.blend is not None:
        console.print(blend_table(res.blend))
    return 0


def blend_table(blend: BlendResult) -> Table:
    """The alphas tried (auto) and the one kept, on the fine-tune's city and replay val sets."""
    table = Table(title=f"blend with {Path(blend.base).name}: alpha {blend.alpha} ({blend.chosen_by})",
                  caption=blend.note or f"kept as trained: {Path(blend.tuned).name}")  # fmt: skip
    for col in ("alpha", "city val mAP50", "replay val mAP50"):
        table.add_column(col, justify="right")
    rows = ([blend.reference] if blend.reference else []) + blend.candidates
    for c in rows:
        cells = [f"{c.alpha:.1f}" + (" (base)" if c.alpha == 0 else "")]
        cells += ["—" if v is None else f"{v:.3f}" for v in (c.city_val_map50, c.replay_val_map50)]
        table.add_row(*cells, style="bold green" if c.alpha == blend.alpha else None)
    return table


def _eval(args: argparse.Namespace) -> int:
    from modeling.evaluation import evaluate_dataset

    rep = evaluate_dataset(
        args.model,
        args.data,
        split=args.split,
        conf=args.conf,
        iou=args.iou,
        pr_conf=args.pr_conf,
        batch=args.batch,
        progress=not args.json,
    )
    if args.json:
        print(rep.model_dump_json(indent=2))
        return 0
    table = Table(title=f"{Path(args.model).name} on {args.data} ({args.split}: {rep.images} images)")
    for col in ("class", "instances", "P", "R", "mAP50", "mAP50-95"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, c in rep.per_class.items():
        table.add_row(
            name,
            str(c.instances),
            f"{c.precision:.3f}",
            f"{c.recall:.3f}",
            f"{c.ap50:.3f}",
            f"{c.ap50_95:.3f}",
        )
    table.add_row(
        "all",
        str(rep.instances),
        f"{rep.precision:.3f}",
        f"{rep.recall:.3f}",
        f"{rep.map50:.3f}",
        f"{rep.map50_95:.3f}",
        style="bold",
    )
    Console().print(table)
    return 0


def _fpcheck(args: argparse.Namespace) -> int:
    from modeling.evaluation import fp_check

    rep = fp_check(
        args.model,
        args.video,
        conf=args.conf,
        iou=args.iou,
        start=args.start,
        end=args.end,
        stride=args.stride,
        batch=args.batch,
        progress=not args.json,
    )
    if args.json:
        print(json.dumps(rep.model_dump(), indent=2, ensure_ascii=False))
        return 0
    table = Table(
        title=f"{Path(args.model).name} on {Path(rep.video).name} ({rep.frames} frames, conf ≥ {rep.conf})"
    )
    table.add_column("class")
    table.add_column("detections", justify="right")
    table.add_column("per 100 frames", justify="right")
    table.add_column("frames with one", justify="right")
    for name, c in rep.per_class.items():
        table.add_row(name, str(c.detections), f"{c.per_100_frames:.2f}", str(c.frames_with_detection))
    Console().print(table)
    return 0
