"""Fine-tune recipes for the learning loop, compared on ground-truth labels (no service, no edge).

The loop's benchmark (``benchmarks.bench_learning``) measures the whole chain; this one isolates the
fine-tune: N frames of the shifted pool with their true labels (the first fifth choosing the epoch),
the loop's default replay set, the loop's defaults, and one recipe change at a time (``--freeze``
for now), evaluated on the same held-out sets as the loop (shifted test by look, original val).

    YOLO_OFFLINE=1 PYTHONPATH=$PWD .venv-train/bin/python -m benchmarks.learning_recipe \
        --name freeze10 --freeze 10 [--n 300] [--epochs 10]

Appends one JSON line per run to ``runs/learning-recipe/results.jsonl`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from benchmarks.bench_learning import SETS, SHIPPED, make_sets
from benchmarks.learning_looks import map50_by_look
from modeling.evaluation import infer_dataset
from modeling.finetune import (
    FINETUNE_EPOCHS,
    FINETUNE_IMGSZ,
    FINETUNE_WARMUP,
    REPLAY_N,
    REPLAY_SEED,
    default_replay,
)
from modeling.synth.domain import DOMAINS
from nce.vocabulary import MODEL_CLASSES

console = Console(stderr=True)


def city_set(pool: Path, out: Path, n: int) -> Path:
    """The first ``n`` pool images as a YOLO set (links): the first fifth val, the rest train."""
    shutil.rmtree(out, ignore_errors=True)
    images = sorted((pool / "images" / "train").glob("*.jpg"))[:n]
    if len(images) < n:
        raise SystemExit(f"the pool {pool} has {len(images)} images, fewer than --n {n}")
    for i, image in enumerate(images):
        split = "val" if i < n // 5 else "train"
        for kind, src in (("images", image), ("labels", pool / "labels" / "train" / f"{image.stem}.txt")):
            (out / kind / split).mkdir(parents=True, exist_ok=True)
            (out / kind / split / src.name).symlink_to(src.resolve())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--name", required=True, help="the run's name")
    ap.add_argument("--n", type=int, default=300, help="labelled shifted frames (at most the pool's 300)")
    ap.add_argument("--epochs", type=int, default=FINETUNE_EPOCHS)
    ap.add_argument("--freeze", type=int, default=0, help="modules kept as shipped (YOLO11's backbone: 10)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--data", default="runs/bench-learning/data", help="generated sets (shared with bench_learning)"
    )
    ap.add_argument("--work", default="runs/learning-recipe", help="runs and results")
    args = ap.parse_args(argv)
    from modeling.training import export, train

    work = Path(args.work)
    sets = make_sets(Path(args.data), quick=False)
    replay, _ = default_replay(work, REPLAY_N, REPLAY_SEED)
    city = city_set(sets["shift-pool"], work / "city" / args.name, args.n)
    mix = work / "mix" / args.name
    mix.mkdir(parents=True, exist_ok=True)
    doc = {
        "train": [str((city / "images/train").resolve()), str((replay / "images/train").resolve())],
        "val": [str((city / "images/val").resolve()), str((replay / "images/val").resolve())],
        "nc": len(MODEL_CLASSES),
        "names": dict(enumerate(MODEL_CLASSES)),
    }
    (mix / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    t0 = time.monotonic()
    res = train(
        mix / "data.yaml",
        epochs=args.epochs,
        imgsz=FINETUNE_IMGSZ,
        model=str(SHIPPED),
        out=work / "runs",
        name=args.name,
        threads=args.threads,
        warmup_epochs=FINETUNE_WARMUP,
        freeze=args.freeze,
    )
    train_s = time.monotonic() - t0
    onnx = work / "runs" / f"{args.name}.onnx"
    export(res.weights, onnx, imgsz=FINETUNE_IMGSZ)
    row: dict[str, Any] = {"name": args.name, "n": args.n, "epochs": args.epochs, "freeze": args.freeze,
                           "train_s": round(train_s)}  # fmt: skip
    for key, name in (("shifted", "shift-test"), ("original", "orig-val")):
        inferred = infer_dataset(onnx, sets[name], split="train")
        r = inferred.report()
        row[key] = {
            "map50": round(r.map50, 4),
            "per_class": {c: round(m.ap50, 3) for c, m in r.per_class.items()},
        }
        if key == "shifted":
            shifted = inferred
    row["shifted_by_look"] = map50_by_look(shifted, SETS["shift-test"]["seed"], DOMAINS["shifted"])
    with (work / "results.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=2))
    console.print(
        f"[green]{args.name}[/]: shifted {row['shifted']['map50']:.3f}, original {row['original']['map50']:.3f} "
        f"in {train_s / 60:.1f} min of training"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
