"""The evaluation gate (``nce model compare``): an old and a new model on the same labelled data and
the same negative images (frames with nothing to find), and a verdict against thresholds.

- per class, mAP50 on the dataset (:func:`modeling.evaluation.evaluate_dataset`); the gate fails
  when any class is down by more than :data:`MAX_MAP50_DROP`;
- false detections per 100 negative images at the product's detection threshold
  (:data:`detector.config.DEFAULT_CONF`, what ``nce run`` applies); the gate fails when the new model
  makes more than ``old × (1 +`` :data:`MAX_FP_INCREASE` ``)``.

Two models with other class lists (names or order) cannot be compared: :class:`NotComparable`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import cv2
from pydantic import BaseModel

from detector.config import DEFAULT_CONF
from detector.errors import DataError
from modeling.evaluation import IMAGE_SUFFIXES, evaluate_dataset

MAX_MAP50_DROP = 0.03
MAX_FP_INCREASE = 0.10


class NotComparable(DataError):
    """The two models detect other classes (exit 2)."""


class ClassComparison(BaseModel):
    old_map50: float
    new_map50: float


class NegativesComparison(BaseModel):
    old_per_100: float
    new_per_100: float


class Comparison(BaseModel):
    """What ``nce model compare --json`` prints."""

    verdict: Literal["pass", "fail"]
    classes: dict[str, ClassComparison]
    negatives: NegativesComparison | None

    def reasons(self) -> list[str]:
        """Why the gate failed (empty when it passed)."""
        out = [
            f"{name}: mAP50 {c.old_map50:.3f} → {c.new_map50:.3f} (down more than {MAX_MAP50_DROP})"
            for name, c in self.classes.items()
            if c.new_map50 < c.old_map50 - MAX_MAP50_DROP
        ]
        n = self.negatives
        if n is not None and n.new_per_100 > n.old_per_100 * (1 + MAX_FP_INCREASE):
            out.append(
                f"false detections per 100 negative frames {n.old_per_100:g} → {n.new_per_100:g} "
                f"(up more than {MAX_FP_INCREASE:.0%})"
            )
        return out

    def metrics(self) -> dict[str, float]:
        """The numbers, flat, for a release record's ``metrics``."""
        out: dict[str, float] = {}
        for name, c in self.classes.items():
            out[f"map50.{name}.old"] = c.old_map50
            out[f"map50.{name}.new"] = c.new_map50
        if self.negatives is not None:
            out["negatives_per_100.old"] = self.negatives.old_per_100
            out["negatives_per_100.new"] = self.negatives.new_per_100
        return out


def class_names(model: str | os.PathLike[str]) -> list[str]:
    from detector.yolo import YoloDetector

    names = YoloDetector(Path(model)).info.names
    return [names[i] for i in sorted(names)]


def negatives_per_100(
    model: str | os.PathLike[str], folder: str | os.PathLike[str], conf: float = DEFAULT_CONF, batch: int = 8
) -> float:
    """Detections (any class, score ≥ ``conf``) per 100 images of ``folder``, images with nothing
    to find, run through the product's runtime detector."""
    from detector.yolo import YoloDetector

    p = Path(folder)
    if not p.is_dir():
        raise DataError(f"--negatives {p}: no such folder")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"--negatives {p}: no images in it")
    det = YoloDetector(Path(model), conf=conf)
    found = 0
    for start in range(0, len(files), batch):
        frames = []
        for f in files[start : start + batch]:
            img = cv2.imread(str(f))
            if img is None:
                raise DataError(f"{f}: not an image OpenCV can read")
            frames.append(img)
        found += sum(len(d.class_id) for d in det.detect(frames))
    return round(100.0 * found / len(files), 3)


def compare_models(
    old: str | os.PathLike[str],
    new: str | os.PathLike[str],
    data: str | os.PathLike[str],
    negatives: str | os.PathLike[str] | None = None,
    split: str = "val",
) -> Comparison:
    old_names, new_names = class_names(old), class_names(new)
    if old_names != new_names:
        raise NotComparable(
            f"the models detect other classes: {Path(old).name} {old_names}, {Path(new).name} {new_names}"
        )
    before = evaluate_dataset(old, data, split=split)
    after = evaluate_dataset(new, data, split=split)
    classes = {
        name: ClassComparison(
            old_map50=round(before.per_class[name].ap50, 4), new_map50=round(after.per_class[name].ap50, 4)
        )
        for name in before.per_class
    }
    neg = None
    if negatives is not None:
        neg = NegativesComparison(
            old_per_100=negatives_per_100(old, negatives), new_per_100=negatives_per_100(new, negatives)
        )
    result = Comparison(verdict="pass", classes=classes, negatives=neg)
    return result.model_copy(update={"verdict": "fail" if result.reasons() else "pass"})
