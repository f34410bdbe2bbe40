"""Fine-tuning on the city's own frames (``nce model train --dataset EXPORT``), with replay.

An export of the service's frame pool (``nce dataset export``) trains together with synthetic
*replay* sets, so that the model keeps what it learnt on the original domain: measured on the
shipped model, 300 city frames alone took the city domain from 0.64 to 0.98 mAP50 and the original
domain from 0.86 down to 0.64; 100 city frames with 300 synthetic frames replayed gave 0.87 and 0.85
(−0.01). So the loop replays by default: without ``--replay`` a synthetic set of ``--replay-n``
images (fixed seed) is made once under the runs folder and reused; ``--no-replay`` opts out.

:func:`mix` checks every set (the shipped model's class order; an export with training images),
writes a ``data.yaml`` with absolute folders (train: the export's and each replay set's; val: the
same, so the kept epoch is judged on both domains) and ``sources.json``: what came from where.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from detector.errors import DataError
from modeling.training import TrainResult
from nce.vocabulary import MODEL_CLASSES

Kind = Literal["city_export", "synthetic_replay"]
SPLITS = ("train", "val")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

# the fine-tune defaults (models/street-v1.md, stage 3: the shipped model was fine-tuned at 480 with a
# half-epoch warm-up; 10 epochs is the measured city fine-tune above)
FINETUNE_MODEL = "models/street-v1.onnx"
FINETUNE_IMGSZ = 480
FINETUNE_EPOCHS = 10
FINETUNE_WARMUP = 0.5
FINETUNE_FREEZE = 0  # modules kept as shipped (0: the whole model trains)
REPLAY_N = 300
REPLAY_SEED = 2026  # none of the synth-v1..v4 seeds (7-10) the shipped model was trained or judged on
REPLAY_MARKER = "replay.json"  # the default replay set's n, seed and dataset hash
NO_REPLAY_WARNING = (
    "no replay: training on the city's frames alone, the model will forget the original domain "
    "(measured: 0.86 -> 0.64 mAP50 there after 300 city frames)"
)


class SplitCounts(BaseModel):
    images: int = 0
    negatives: int = Field(0, description="images without an object (an empty label file)")
    boxes: dict[str, int] = Field(default_factory=lambda: {str(n): 0 for n in MODEL_CLASSES})
    how: dict[str, int] = Field(
        default_factory=dict, description="export only: images by how they were last labelled"
    )
    cameras: dict[str, int] = Field(default_factory=dict, description="export only: images by camera")


class Source(BaseModel):
    kind: Kind
    folder: str
    train: SplitCounts
    val: SplitCounts
    synth: dict[str, Any] | None = Field(
        None, description="replay made by `nce data synth`: its n, seed and dataset_sha256 when known"
    )
    notes: list[str] = Field(default_factory=list)


class MixSummary(BaseModel):
    """What one fine-tune trains and validates on, by source (also written as ``sources.json``)."""

    data_yaml: str
    sources_json: str
    train: list[str] = Field(description="image folders trained on, absolute")
    val: list[str] = Field(description="image folders the kept epoch is chosen on, absolute")
    replay: Literal["given", "synthesized", "cached", "none"]
    sources: list[Source]
    warnings: list[str] = Field(default_factory=list)

    def totals(self, split: str) -> tuple[int, int]:
        """(images, of them from the city export) in ``split``."""
        counts = [getattr(s, split) for s in self.sources]
        city = sum(getattr(s, split).images for s in self.sources if s.kind == "city_export")
        return sum(c.images for c in counts), city


def _names(doc: dict[str, Any]) -> list[str]:
    names = doc.get("names")
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, list):
        return [str(n) for n in names]
    return []


def read_set(folder: Path, what: str) -> tuple[Path, dict[str, Any]]:
    """The dataset folder of ``folder`` (a folder or its data.yaml) and its checked data.yaml."""
    root = folder.parent if folder.is_file() and folder.suffix in (".yaml", ".yml") else folder
    path = root / "data.yaml"
    if not path.is_file():
        raise DataError(f"{what} {folder}: no data.yaml there (expected a YOLO dataset folder)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"{what} {path}: not YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, dict):
        raise DataError(f"{what} {path}: not a YOLO data.yaml (expected a mapping with names, train, val)")
    names = _names(doc)
    if names != list(MODEL_CLASSES):
        raise DataError(
            f"{what} {path}: classes {names} are not the model's {list(MODEL_CLASSES)} "
            "(same names in the same order; export with `nce dataset export` or make it with `nce data synth`)"
        )
    return root.resolve(), doc


def split_folders(root: Path, doc: dict[str, Any], split: str) -> list[Path]:
    """The image folders of ``split``, absolute. A relative ``path`` is the yaml's folder (NCE's rule,
    not Ultralytics'); an absolute one that no longer exists (the set was moved) is too."""
    base = Path(str(doc.get("path") or "."))
    if not base.is_absolute():
        base = root / base
    elif not base.is_dir():
        base = root
    entries = doc.get(split) or []
    entries = entries if isinstance(entries, list) else [entries]
    return [(base / str(e)).resolve() for e in entries]


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _label_file(image: Path) -> Path:
    parts = list(image.parts)
    i = len(parts) - 1 - parts[::-1].index("images")  # Ultralytics' rule: the last /images/ -> /labels/
    return Path(*parts[:i], "labels", *parts[i + 1 :]).with_suffix(".txt")


def count(images: Sequence[Path]) -> SplitCounts:
    """Images, negatives and boxes per class of ``images`` (their YOLO label files, checked)."""
    c = SplitCounts(images=len(images))
    for image in images:
        label = _label_file(image)
        lines = label.read_text(encoding="utf-8").split("\n") if label.is_file() else []
        boxes = 0
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 5 or not fields[0].isdigit() or int(fields[0]) >= len(MODEL_CLASSES):
                raise DataError(
                    f"{label}:{n}: expected `class cx cy w h` with class 0..{len(MODEL_CLASSES) - 1}, "
                    f"got {line.strip()[:60]!r}"
                )
            c.boxes[MODEL_CLASSES[int(fields[0])]] += 1
            boxes += 1
        c.negatives += boxes == 0
    return c


def _provenance(root: Path) -> list[dict[str, Any]] | None:
    path = root / "provenance.jsonl"
    if not path.is_file():
        return None
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not JSON ({exc.msg})") from exc
    return rows


def _source(kind: Kind, root: Path, doc: dict[str, Any], what: str) -> tuple[Source, dict[str, list[Path]]]:
    folders = {split: [f for f in split_folders(root, doc, split) if _images(f)] for split in SPLITS}
    if any(f in folders["train"] for f in folders["val"]):  # e.g. a synth set too small for a val split
        folders["val"] = [f for f in folders["val"] if f not in folders["train"]]
    counts = {split: count([i for f in folders[split] for i in _images(f)]) for split in SPLITS}
    if kind == "city_export" and counts["train"].images == 0:
        raise DataError(
            f"{what} {root}: no training images in it (label frames complete in the console's 标注 page, "
            "or export with --include-partial, then `nce dataset export` again)"
        )
    if kind == "synthetic_replay" and counts["train"].images + counts["val"].images == 0:
        raise DataError(f"{what} {root}: no images in it (make one with `nce data synth`)")
    src = Source(kind=kind, folder=str(root), train=counts["train"], val=counts["val"])
    if kind == "city_export":
        rows = _provenance(root)
        if rows is None:
            src.notes.append("no provenance.jsonl: not an `nce dataset export`; how/cameras unknown")
        else:
            for split in SPLITS:
                mine = [r for r in rows if r.get("split") == split]
                getattr(src, split).how = dict(sorted(Counter(str(r.get("how")) for r in mine).items()))
                getattr(src, split).cameras = dict(
                    sorted(Counter(str(r.get("camera_id")) for r in mine).items())
                )
            if len(rows) != counts["train"].images + counts["val"].images:
                src.notes.append(
                    f"provenance.jsonl has {len(rows)} lines for "
                    f"{counts['train'].images + counts['val'].images} images"
                )
    else:
        marker = root / REPLAY_MARKER
        if marker.is_file():
            src.synth = json.loads(marker.read_text(encoding="utf-8"))
        elif doc.get("seed") is not None:
            src.synth = {"seed": doc["seed"]}
    if counts["val"].images == 0:
        src.notes.append("no val images of its own")
    return src, folders


def mix(
    dataset: Path,
    replay: Sequence[Path],
    out: Path,
    *,
    replay_mode: Literal["given", "synthesized", "cached", "none"] | None = None,
) -> MixSummary:
    """Check the export and the replay sets and write ``out/data.yaml`` (absolute folders: train =
    every set's train, val = every set's val) and ``out/sources.json``; see the module docstring."""
    city, city_doc = read_set(dataset, "--dataset")
    city_src, city_folders = _source("city_export", city, city_doc, "--dataset")
    sources, train, val = [city_src], list(city_folders["train"]), list(city_folders["val"])
    for folder in replay:
        root, doc = read_set(folder, "--replay")
        if root == city:
            raise DataError(f"--replay {folder}: that is the --dataset itself")
        src, folders = _source("synthetic_replay", root, doc, "--replay")
        sources.append(src)
        train += [f for f in folders["train"] if f not in train]
        val += [f for f in folders["val"] if f not in val]
    warnings: list[str] = []
    if not replay:
        warnings.append(NO_REPLAY_WARNING)
    if city_src.val.images == 0:
        if not val:
            raise DataError(
                f"--dataset {city}: no val images (all its camera-days fell in train) and no replay set "
                "to validate on: export with more camera-days or a higher --val-fraction, or add --replay"
            )
        warnings.append(
            "the export has no val images (all its camera-days fell in train): the kept epoch is "
            "chosen on the synthetic replay's val alone"
        )
    out.mkdir(parents=True, exist_ok=True)
    data_yaml, sources_json = out / "data.yaml", out / "sources.json"
    doc = {
        "train": [str(f) for f in train],
        "val": [str(f) for f in val],
        "nc": len(MODEL_CLASSES),
        "names": dict(enumerate(MODEL_CLASSES)),
    }
    header = f"# nce model train --dataset {city}: the city export plus {len(replay)} replay set(s)\n"
    data_yaml.write_text(header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    summary = MixSummary(
        data_yaml=str(data_yaml.resolve()),
        sources_json=str(sources_json.resolve()),
        train=doc["train"],
        val=doc["val"],
        replay=replay_mode or ("given" if replay else "none"),
        sources=sources,
        warnings=warnings,
    )
    sources_json.write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return summary


def replay_folder(runs: Path, n: int, seed: int) -> Path:
    """Where the default replay set of ``n`` images and ``seed`` lives: shared by every run under ``runs``."""
    return runs / f"replay-synth-n{n}-seed{seed}"


def default_replay(
    runs: Path, n: int = REPLAY_N, seed: int = REPLAY_SEED, progress: Callable[[int], None] | None = None
) -> tuple[Path, Literal["synthesized", "cached"]]:
    """The default replay set: made once with ``nce data synth``'s generator (``n`` images, ``seed``)
    and reused while its ``replay.json`` names the same n and seed and its files hash the same."""
    from modeling.synth.dataset import dataset_hash, synth_dataset

    if n < 1:
        raise DataError(f"--replay-n must be at least 1, got {n}")
    folder = replay_folder(runs, n, seed)
    marker = folder / REPLAY_MARKER
    if marker.is_file():
        known = json.loads(marker.read_text(encoding="utf-8"))
        if (known.get("n"), known.get("seed")) == (n, seed) and known.get("dataset_sha256") == dataset_hash(
            folder
        ):
            return folder, "cached"
        raise DataError(
            f"replay set {folder}: its files no longer match its {REPLAY_MARKER} (remove the folder; "
            "it is made again)"
        )
    if folder.exists():
        raise DataError(f"replay set {folder}: exists without {REPLAY_MARKER} (remove it; it is made again)")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    made = synth_dataset(partial, n, seed=seed, progress=progress)
    os.replace(partial, folder)
    # data.yaml names the folder it was made in: point it at the final one
    doc = yaml.safe_load((folder / "data.yaml").read_text(encoding="utf-8"))
    doc["path"] = str(folder.resolve())
    (folder / "data.yaml").write_text(
        yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    record = {"n": n, "seed": seed, "dataset_sha256": made.dataset_sha256, "images": made.images}
    marker.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder, "synthesized"


class FinetuneResult(TrainResult):
    """``nce model train --dataset``'s result: the training run and what it was trained on."""

    final_val: dict[str, float] = Field(
        default_factory=dict,
        description="Ultralytics' validation of the kept weights on the mixed val (metrics/mAP50(B), ...)",
    )
    mix: MixSummary
    base_model: str = Field(
        FINETUNE_MODEL, description="the model the fine-tune started from (`nce model export` blends with it)"
    )


def prepare(
    dataset: Path,
    replay: Sequence[Path],
    *,
    runs: Path,
    name: str,
    replay_n: int = REPLAY_N,
    replay_seed: int = REPLAY_SEED,
    no_replay: bool = False,
    progress: Callable[[int], None] | None = None,
) -> MixSummary:
    """The mix for a run ``runs/name``: the given replay sets, the default one (made or reused under
    ``runs``) when none is given, or none at all with ``no_replay``."""
    if no_replay and replay:
        raise DataError("--no-replay and --replay exclude each other")
    if no_replay:
        return mix(dataset, [], runs / name, replay_mode="none")
    if replay:
        return mix(dataset, replay, runs / name, replay_mode="given")
    _source("city_export", *read_set(dataset, "--dataset"), "--dataset")  # fail before the synthesis
    folder, mode = default_replay(runs, replay_n, replay_seed, progress)
    return mix(dataset, [folder], runs / name, replay_mode=mode)
