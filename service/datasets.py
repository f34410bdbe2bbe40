"""Export the frame pool as an Ultralytics (YOLO) dataset: ``nce dataset export``.

::

    OUT/data.yaml                 path: . / train: images/train / val: images/val / names (the model's order)
    OUT/images/{train,val}/H.jpg  the stored image's bytes (H = the first 16 hex digits of its SHA-256;
                                  .png for a PNG)
    OUT/labels/{train,val}/H.txt  one line a box: class cx cy w h, normalised to 0..1 (6 decimals);
                                  an empty file for a frame without objects (a negative)
    OUT/provenance.jsonl          one line an image: where it came from, how, by whom and when labelled

Frames count with their latest labelling; only complete ones unless ``include_partial``. Hard
negatives (a review dismissed the detection as false) are not labels: the frame is a negative for
them. Train and val are split by (camera, day) groups, never by frame, so near-identical frames of
one camera and day never sit on both sides: a group is val when the hash of ``camera/day`` falls
below ``val_fraction``. The same pool exports to the same bytes (sorted, fixed formatting).

``path: .`` names the folder of ``data.yaml`` (NCE's tools read it so); Ultralytics itself resolves a
relative ``path`` against the working directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.times import utc_ms
from nce.vocabulary import MODEL_CLASSES
from service.crud.frames import latest_labels
from service.errors import Conflict, Invalid, NotFound
from service.evidence_store import EvidenceStore
from service.models import Frame, FrameLabel

Split = Literal["train", "val"]
SPLITS: tuple[Split, ...] = ("train", "val")
_BATCH = 500


@dataclass
class ExportSummary:
    out: str
    images: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    negatives: int = 0  # images without an object
    boxes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODEL_CLASSES, 0))
    hard_negatives: int = 0  # dismissed boxes (not written as labels)
    groups: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))  # camera-days
    by_how: dict[str, int] = field(default_factory=dict)  # images by how they were last labelled
    partial: int = 0  # images whose labels are not complete (only with include_partial)

    def line(self) -> str:
        total = sum(self.images.values())
        n_boxes = sum(self.boxes.values())
        return (
            f"exported {total} images ({self.images['train']} train, {self.images['val']} val; "
            f"{self.groups['train']} + {self.groups['val']} camera-days), {n_boxes} boxes, "
            f"{self.negatives} negatives, {self.partial} partial, to {self.out}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "images": self.images,
            "negatives": self.negatives,
            "boxes": self.boxes,
            "hard_negatives": self.hard_negatives,
            "groups": self.groups,
            "by_how": dict(sorted(self.by_how.items())),
            "partial": self.partial,
        }


def group_value(camera_id: str, day: dt.date) -> float:
    """Where the (camera, day) group falls in [0, 1): the first 8 bytes of SHA-256 of ``camera/day``."""
    digest = hashlib.sha256(f"{camera_id}/{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_groups(groups: set[tuple[str, dt.date]], val_fraction: float) -> dict[tuple[str, dt.date], Split]:
    """Each group's side: val when its value is below ``val_fraction``. With two groups or more and
    a fraction above 0, neither side is left empty: the group nearest the threshold moves over."""
    side: dict[tuple[str, dt.date], Split] = {
        g: "val" if group_value(*g) < val_fraction else "train" for g in groups
    }
    if len(groups) >= 2 and val_fraction > 0:
        ordered = sorted(groups, key=lambda g: (group_value(*g), g))
        if "val" not in side.values():
            side[ordered[0]] = "val"
        elif "train" not in side.values():
            side[ordered[-1]] = "train"
    return side


def yolo_line(label: str, box: list[float], width: int, height: int) -> str:
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    w, h = (x2 - x1) / width, (y2 - y1) / height
    return f"{MODEL_CLASSES.index(label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"  # type: ignore[arg-type]


def data_yaml() -> str:
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(MODEL_CLASSES))
    return (
        "# NCE frame pool (nce dataset export): train and val split by camera and day\n"
        "path: .\ntrain: images/train\nval: images/val\n"
        f"nc: {len(MODEL_CLASSES)}\nnames:\n{names}"
    )


def _frames(
    session: Session, *, since: dt.datetime | None, include_partial: bool
) -> list[tuple[Frame, FrameLabel]]:
    statuses = ["labelled", "partial"] if include_partial else ["labelled"]
    q = select(Frame).where(Frame.status.in_(statuses))
    if since is not None:
        q = q.where(Frame.taken_at >= since)
    frames = list(session.execute(q.order_by(Frame.sha256)).scalars())
    out: list[tuple[Frame, FrameLabel]] = []
    for i in range(0, len(frames), _BATCH):
        batch = frames[i : i + _BATCH]
        latest = latest_labels(session, [f.id for f in batch])
        out += [(f, latest[f.id]) for f in batch if f.id in latest]
    return out


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict(f"--out {out}: not an empty folder (an export never mixes with older files)")


def export_dataset(
    session: Session,
    *,
    store: EvidenceStore,
    out: Path,
    since: dt.datetime | None = None,
    val_fraction: float = 0.2,
    include_partial: bool = False,
) -> ExportSummary:
    """Write the dataset into ``out`` (a new or empty folder); see the module's docstring."""
    if not 0.0 <= val_fraction < 1.0:
        raise Invalid(f"--val-fraction must be in [0, 1), got {val_fraction}")
    _check_out(out)
    chosen = _frames(session, since=since, include_partial=include_partial)
    day_of = {f.id: f.taken_at.astimezone(dt.UTC).date() for f, _ in chosen}
    side = split_groups({(f.camera_id, day_of[f.id]) for f, _ in chosen}, val_fraction)
    summary = ExportSummary(out=str(out))
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    provenance: list[tuple[str, str]] = []  # (image, line)
    how: Counter[str] = Counter()
    for frame, label in chosen:
        split = side[(frame.camera_id, day_of[frame.id])]
        data = _image_bytes(store, frame)
        stem = frame.sha256[:16]
        ext = ".png" if frame.mime == "image/png" else ".jpg"
        image = f"images/{split}/{stem}{ext}"
        positives = [b for b in label.boxes if not b.get("negative") and b["label"] in MODEL_CLASSES]
        lines = [yolo_line(b["label"], b["box"], frame.width, frame.height) for b in positives]
        (out / image).write_bytes(data)
        (out / "labels" / split / f"{stem}.txt").write_text("".join(f"{ln}\n" for ln in lines))
        summary.images[split] += 1
        summary.negatives += not positives
        summary.hard_negatives += sum(1 for b in label.boxes if b.get("negative"))
        summary.partial += not label.complete
        for b in positives:
            summary.boxes[b["label"]] += 1
        how[label.how] += 1
        provenance.append((image, _provenance(frame, label, image=image, split=split, day=day_of[frame.id])))
    for split in SPLITS:
        summary.groups[split] = sum(1 for s in side.values() if s == split)
    summary.by_how = dict(how)
    (out / "data.yaml").write_text(data_yaml(), encoding="utf-8")
    (out / "provenance.jsonl").write_text(
        "".join(f"{line}\n" for _, line in sorted(provenance)), encoding="utf-8"
    )
    return summary


def _image_bytes(store: EvidenceStore, frame: Frame) -> bytes:
    try:
        data = store.read(frame.sha256)
    except NotFound as exc:
        raise NotFound(
            f"frame {frame.id}: its image {frame.sha256} is missing from the evidence store {store.describe()}"
        ) from exc
    if hashlib.sha256(data).hexdigest() != frame.sha256:
        raise Invalid(f"frame {frame.id}: the stored image does not match its SHA-256 (the store is damaged)")
    return data


def _provenance(frame: Frame, label: FrameLabel, *, image: str, split: str, day: dt.date) -> str:
    record = {
        "image": image,
        "split": split,
        "sha256": frame.sha256,
        "frame_id": frame.id,
        "case_id": frame.case_id if frame.case_id is not None else label.case_id,
        "package_id": frame.package_id,
        "camera_id": frame.camera_id,
        "day": day.isoformat(),
        "taken_at": utc_ms(frame.taken_at),
        "source": frame.source,
        "reason": frame.reason,
        "origin": frame.origin,
        "how": label.how,
        "by": label.labelled_by,
        "at": utc_ms(label.created_at),
        "complete": label.complete,
        "boxes": sum(1 for b in label.boxes if not b.get("negative")),
        "hard_negatives": sum(1 for b in label.boxes if b.get("negative")),
    }
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
