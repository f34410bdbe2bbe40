"""``nce model compare`` (the evaluation gate, :mod:`modeling.compare`) and ``nce model release``
(a signed release folder, :mod:`modeling.release`; the record is :mod:`nce.release`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_FAIL = 1


def register(sub: Any) -> None:
    c = sub.add_parser(
        "compare",
        help="the evaluation gate: old vs new model, per-class mAP50 and false detections on negatives",
        description=(
            "Evaluate the old and the new model on the same labelled data (per-class mAP50) and, with "
            "--negatives, on the same images with nothing to find (false detections per 100 frames). "
            "Verdict: fail when a class is down by more than 0.03 mAP50 or false detections are up by "
            "more than 10 %%. Exit 0 pass, 1 fail, 2 when the two cannot be compared."
        ),
    )
    c.add_argument("--old", required=True, type=Path, help="the model in use (.onnx)")
    c.add_argument("--new", required=True, type=Path, help="the candidate (.onnx)")
    _gate_args(c, required=True)
    c.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    c.set_defaults(func=_compare)

    r = sub.add_parser(
        "release",
        help="write a signed release folder: model.onnx, card.md, release.json",
        description=(
            "Sign a model release with the release key (nce keys generate). With --old and --data the "
            "evaluation gate runs first (as nce model compare) and its verdict and numbers are signed "
            "into the record; a failed gate needs --force REASON, which the record says."
        ),
    )
    r.add_argument("--model", required=True, type=Path, help="the model (.onnx)")
    r.add_argument("--card", required=True, type=Path, help="its model card (.md)")
    r.add_argument("--key", required=True, type=Path, help="the release private key (PEM)")
    r.add_argument("--out", required=True, type=Path, help="the release folder to write (new or empty)")
    r.add_argument("--release-id", default=None, help="the release's name (default: MODEL-SHA256[:12])")
    r.add_argument("--old", type=Path, default=None, help="the model in use: run the gate against it")
    _gate_args(r, required=False)
    r.add_argument(
        "--force", default=None, metavar="REASON", help="release despite a failed gate, saying why"
    )
    r.set_defaults(func=_release)


def _gate_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--data", required=required, type=Path, help="YOLO dataset (folder or data.yaml)")
    p.add_argument("--split", default="val", help="the dataset split evaluated")
    p.add_argument("--negatives", type=Path, default=None, help="folder of images with nothing to find")


def _print_comparison(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"evaluation gate: {result.verdict}")
    for col in ("class", "old mAP50", "new mAP50", "change"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, c in result.classes.items():
        table.add_row(name, f"{c.old_map50:.3f}", f"{c.new_map50:.3f}", f"{c.new_map50 - c.old_map50:+.3f}")
    if result.negatives is not None:
        n = result.negatives
        table.add_row("false det. / 100 negatives", f"{n.old_per_100:g}", f"{n.new_per_100:g}", "")
    Console().print(table)
    for reason in result.reasons():
        print(f"fail: {reason}")


def _compare(args: argparse.Namespace) -> int:
    from modeling.compare import compare_models

    result = compare_models(args.old, args.new, args.data, args.negatives, split=args.split)
    if args.json:
        print(result.model_dump_json())
    else:
        _print_comparison(result)
    return 0 if result.verdict == "pass" else EXIT_FAIL


def _release(args: argparse.Namespace) -> int:
    from detector.errors import DataError
    from modeling.release import write_release
    from nce.release import ReleaseGate

    if (args.old is None) != (args.data is None):
        raise DataError("the gate needs both --old MODEL and --data DATASET (or neither)")
    if args.force is not None and not args.force.strip():
        raise DataError("--force needs a reason")
    gate, metrics = None, None
    if args.old is not None:
        from modeling.compare import compare_models

        result = compare_models(args.old, args.model, args.data, args.negatives, split=args.split)
        _print_comparison(result)
        metrics = result.metrics()
        if result.verdict == "fail" and args.force is None:
            print(
                f"nce model: the new model fails the evaluation gate against {args.old}; nothing released "
                "(release anyway with --force REASON)",
                file=sys.stderr,
            )
            return EXIT_FAIL
        forced = result.verdict == "fail"
        gate = ReleaseGate(verdict=result.verdict, forced=forced, reason=args.force if forced else None)
    elif args.force is not None:
        raise DataError("--force overrides a failed gate: give --old and --data to run it")
    signed = write_release(
        model=args.model,
        card=args.card,
        key_file=args.key,
        out=args.out,
        release_id=args.release_id,
        metrics=metrics,
        gate=gate,
    )
    rec = signed.record
    verdict = "no gate" if rec.gate is None else rec.gate.verdict + (" (forced)" if rec.gate.forced else "")
    print(
        f"release {rec.release_id} written to {args.out} (model sha256 {rec.model_sha256[:16]}…, {verdict})"
    )
    print(f"signed by release key sha256 {rec.key_fingerprint}")
    return 0
