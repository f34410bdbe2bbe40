"""``nce data synth``: a YOLO-format dataset of composited street violations."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, Field

from detector.errors import DataError
from modeling.synth import CLASSES
from modeling.synth.backgrounds import BackgroundPool
from modeling.synth.compose import Composer, Placed, add_pedestrians, augment, yolo_lines
from modeling.synth.domain import Domain, lighting_rng, relight
from modeling.synth.fonts import find_cjk_fonts
from nce.hashing import sha256_file

Image = np.ndarray


class SynthSummary(BaseModel):
    """What ``nce data synth`` wrote."""

    out: str
    data_yaml: str
    seed: int
    images: dict[str, int]
    objects: dict[str, int]
    negatives: int
    backgrounds: dict[str, int]
    fonts: int
    seconds: float
    dataset_sha256: str = Field(description="hash over every image and label file, in path order")


def dataset_hash(root: Path) -> str:
    """SHA-256 over the relative paths and bytes of every file under images/ and labels/."""
    h = hashlib.sha256()
    for sub in ("images", "labels"):
        for p in sorted((root / sub).rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(root)).encode())
                h.update(sha256_file(p).encode())
    return h.hexdigest()


def draw_boxes(img: Image, placed: list[Placed]) -> Image:
    out = img.copy()
    for p in placed:
        x1, y1, x2, y2 = p.box
        col = [
            (0, 0, 255),
            (0, 200, 0),
            (255, 0, 0),
            (0, 200, 255),
            (255, 0, 255),
            (255, 255, 0),
            (128, 128, 128),
        ][p.class_id]
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), col, 1)
        cv2.putText(out, p.cls, (x1, max(8, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, col, 1, cv2.LINE_AA)
    return out


def synth_dataset(
    out: str | os.PathLike[str],
    n: int,
    seed: int = 0,
    val_fraction: float = 0.15,
    size: tuple[int, int] = (640, 480),
    negatives: float = 0.08,
    data: str | os.PathLike[str] | None = None,
    augment_images: bool = True,
    pedestrians: float = 0.5,
    progress: Callable[[int], None] | None = None,
    pool: BackgroundPool | None = None,
    domain: Domain | None = None,
) -> SynthSummary:
    """Write ``n`` composited images with YOLO labels under ``out`` (train/val split), plus data.yaml.

    Deterministic: the same ``seed``, ``n`` and backgrounds give byte-identical files. ``domain``
    (:mod:`modeling.synth.domain`; default: the training domain) picks backgrounds, lighting, object
    looks and camera height; a ``pool`` passed in must have been made for the same domain.
    """
    domain = domain or Domain()
    if n < 1:
        raise DataError(f"--n must be at least 1, got {n}")
    if not 0.0 <= pedestrians <= 1.0:
        raise DataError(f"pedestrians must be a fraction in [0, 1], got {pedestrians}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val fraction must be in [0, 1), got {val_fraction}")
    if size[0] < 64 or size[1] < 64:
        raise DataError(f"image size must be at least 64x64, got {size[0]}x{size[1]}")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DataError(f"--out {root} exists and is not a folder")
    if root.is_dir() and any((root / "images").glob("*/*")):
        raise DataError(f"--out {root} already holds a dataset; choose an empty folder")
    t0 = time.monotonic()
    fonts = find_cjk_fonts()
    pool = pool or BackgroundPool(
        data, photos=domain.photos, vtest_share=domain.vtest_share, object_scale=domain.object_scale
    )
    composer = Composer(fonts, recolour=domain.recolour)
    n_val = round(n * val_fraction) if n > 1 else 0
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(CLASSES, 0)
    bgs: dict[str, int] = {}
    n_neg = 0
    images = {"train": 0, "val": 0}
    preview: list[Image] = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        split = "val" if i >= n - n_val else "train"
        bg = pool.sample(rng, size)
        key = bg.source.split("#")[0]
        bgs[key] = bgs.get(key, 0) + 1
        k = 0 if rng.random() < negatives else int(rng.integers(1, 7))
        img, placed = composer.compose(rng, bg, k, bg.occluder, shadows=True)
        if pedestrians > 0:
            # real pedestrians pasted in front (unlabelled hard negatives, extra occlusion); their own
            # random stream, so that --pedestrians 0 reproduces datasets made without them
            prng = np.random.default_rng([seed, i, 1])
            if prng.random() < pedestrians:
                add_pedestrians(prng, img, placed, bg.spec, pool.people, int(prng.integers(1, 4)))
        if domain.lighting:  # its own random stream too: the training domain draws nothing here
            img = relight(img, lighting_rng(seed, i), domain.lighting)
        if augment_images:
            img = augment(img, rng)
        lines = yolo_lines(placed, size[0], size[1])
        if not lines:
            n_neg += 1
        for p in placed:
            counts[p.cls] += 1
        name = f"{split}_{i:06d}"
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        images[split] += 1
        if len(preview) < 16 and placed:
            preview.append(draw_boxes(img, placed))
        if progress is not None:
            progress(i + 1)
    data_yaml = root / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {
                "path": str(root.resolve()),
                "train": "images/train",
                "val": "images/val" if n_val else "images/train",
                "names": dict(enumerate(CLASSES)),
                "nc": len(CLASSES),
            },
            allow_unicode=True,
            sort_keys=False,
        )
    )
    if preview:
        write_mosaic(preview, root / "preview.png")
    return SynthSummary(
        out=str(root),
        data_yaml=str(data_yaml),
        seed=seed,
        images=images,
        objects=counts,
        negatives=n_neg,
        backgrounds=bgs,
        fonts=len(fonts),
        seconds=round(time.monotonic() - t0, 2),
        dataset_sha256=dataset_hash(root),
    )


def write_mosaic(tiles: list[Image], path: Path, cols: int = 4, tile_w: int = 320) -> None:
    ims = []
    for t in tiles:
        h, w = t.shape[:2]
        ims.append(cv2.resize(t, (tile_w, int(h * tile_w / w))))
    th = max(i.shape[0] for i in ims)
    rows = []
    for r in range(0, len(ims), cols):
        row = [np.pad(i, ((0, th - i.shape[0]), (0, 0), (0, 0))) for i in ims[r : r + cols]]
        row += [np.zeros((th, tile_w, 3), np.uint8)] * (cols - len(row))
        rows.append(np.hstack(row))
    cv2.imwrite(str(path), np.vstack(rows))
