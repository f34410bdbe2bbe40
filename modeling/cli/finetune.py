"""``nce model train --dataset EXPORT_DIR [--replay SYNTH_DIR ...] [--replay-n N] [--no-replay]``: a
fine-tune on the city's frames with synthetic replay (:mod:`modeling.finetune`), its progress and a
table of what came from where."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import TaskID
from rich.table import Table

from modeling.finetune import (
    FINETUNE_EPOCHS,
    FINETUNE_FREEZE,
    FINETUNE_IMGSZ,
    FINETUNE_MODEL,
    FINETUNE_WARMUP,
    REPLAY_N,
    REPLAY_SEED,
    FinetuneResult,
    MixSummary,
    SplitCounts,
    prepare,
)
from modeling.progress import progress_bar
from nce.vocabulary import MODEL_CLASSES

KIND_WORDS = {"city_export": "city export", "synthetic_replay": "synthetic replay"}


def sources_table(mix: MixSummary) -> Table:
    """A column a source and split (and the totals), a row a count: images, negatives, boxes per class."""
    columns: list[tuple[str, SplitCounts]] = []
    for src in mix.sources:
        for split in ("train", "val"):
            columns.append((f"{KIND_WORDS[src.kind]}\n{Path(src.folder).name}\n{split}", getattr(src, split)))
    table = Table(title="what came from where")
    table.add_column("")
    for title, _ in columns:
        table.add_column(title, justify="right")
    for split in ("train", "val"):
        table.add_column(f"all\n\n{split}", justify="right", style="bold")
    totals = {split: mix.totals(split) for split in ("train", "val")}
    share = {s: f" ({100 * city / n:.0f} % city)" if n else "" for s, (n, city) in totals.items()}
    table.add_row(
        "images",
        *(str(c.images) for _, c in columns),
        *(f"{totals[s][0]}{share[s]}" for s in ("train", "val")),
    )
    rows: list[tuple[str, Callable[[SplitCounts], int]]] = [("negatives", lambda c: c.negatives)]
    rows += [(name, lambda c, name=name: c.boxes[name]) for name in MODEL_CLASSES]  # type: ignore[misc]
    for label, get in rows:
        values = [get(c) for _, c in columns]
        split_sums = [sum(get(getattr(src, s)) for src in mix.sources) for s in ("train", "val")]
        table.add_row(label, *map(str, values), *map(str, split_sums))
    return table


def provenance_lines(mix: MixSummary) -> list[str]:
    """The export's images by how they were labelled and by camera; each replay set's seed."""
    lines = []
    for src in mix.sources:
        if src.kind == "city_export":
            for split in ("train", "val"):
                c: SplitCounts = getattr(src, split)
                if c.how:
                    how = ", ".join(f"{k} {v}" for k, v in c.how.items())
                    cams = ", ".join(f"{k} {v}" for k, v in c.cameras.items())
                    lines.append(f"city {split}: labelled by {how}; cameras: {cams}")
        elif src.synth:
            known = ", ".join(f"{k} {src.synth[k]}" for k in ("n", "seed") if k in src.synth)
            lines.append(f"replay {src.folder}: {known or 'made by nce data synth'}")
        lines += [f"{Path(src.folder).name}: {note}" for note in src.notes]
    return lines


def run_finetune(args: argparse.Namespace) -> int:
    from modeling.training import train

    console = Console(stderr=True)
    runs, name = Path(args.out), args.name
    with progress_bar("replay set", console=console, quiet=args.json) as bar:
        tasks: list[TaskID] = []  # a bar only when the default replay set is made

        def progress(i: int) -> None:
            if not tasks:
                tasks.append(bar.add_task("replay", total=args.replay_n or REPLAY_N))
            bar.update(tasks[0], completed=i)

        mix = prepare(
            Path(args.dataset),
            [Path(r) for r in args.replay],
            runs=runs,
            name=name,
            replay_n=REPLAY_N if args.replay_n is None else args.replay_n,
            replay_seed=REPLAY_SEED if args.replay_seed is None else args.replay_seed,
            no_replay=args.no_replay,
            progress=progress,
        )
    for warning in mix.warnings:
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if not args.json:
        console.print(sources_table(mix))
        for line in provenance_lines(mix):
            console.print(line, soft_wrap=True, highlight=False)
        console.print(f"replay: {mix.replay}; data.yaml: {mix.data_yaml}; sources: {mix.sources_json}")

    final: dict[str, float] = {}

    def on_epoch(epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        m50 = metrics.get("metrics/mAP50(B)")
        shown = f"val mAP50 {m50:.3f} ({' + '.join(sorted({s.kind for s in mix.sources if s.val.images}))})"
        if epoch > epochs:  # Ultralytics' last call: best.pt validated
            final.update(metrics)
            console.print(f"[cyan]best.pt[/] {shown if m50 is not None else ''}")
        else:
            console.print(f"[cyan]epoch {epoch}/{epochs}[/] {shown if m50 is not None else ''}")

    res = train(
        mix.data_yaml,
        epochs=args.epochs or FINETUNE_EPOCHS,
        imgsz=args.imgsz or FINETUNE_IMGSZ,
        model=args.model or FINETUNE_MODEL,
        seed=args.seed,
        out=runs,
        name=name,
        batch=args.batch,
        workers=args.workers,
        device=args.device,
        cache=not args.no_cache,
        threads=args.threads,
        arch=args.arch,
        warmup_epochs=FINETUNE_WARMUP if args.warmup_epochs is None else args.warmup_epochs,
        freeze=FINETUNE_FREEZE if args.freeze is None else args.freeze,
        on_epoch=on_epoch,
    )
    base = str(Path(args.model or FINETUNE_MODEL).resolve())
    result = FinetuneResult(**res.model_dump(), final_val=final, mix=mix, base_model=base)
    (Path(res.run_dir) / "finetune.json").write_text(
        result.model_dump_json(indent=2) + "\n", encoding="utf-8"
    )
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    console.print(sources_table(mix))
    total, city = mix.totals("train")
    console.print(
        f"[green]fine-tuned[/] {res.epochs} epochs in {res.seconds:.0f} s on {total} images "
        f"({city} from the city export, {total - city} replayed) → {res.weights}"
    )
    return 0
