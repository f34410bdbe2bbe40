"""Evaluation with NCE's own runtime (``detector.yolo``), not Ultralytics'.

- :func:`evaluate_dataset` (:func:`infer_dataset` then :meth:`Inferred.report`, which also scores a
  subset of the images): COCO-style mAP on a YOLO-format dataset — greedy matching of detections
  (highest score first) to unmatched ground truth of the same class at IoU 0.50:0.05:0.95, and
  101-point interpolated average precision; precision and recall at one working threshold.
- :func:`fp_check`: detections per 100 frames per class on footage without violations.

All of it is numpy; the metric functions are pure and tested on hand-made predictions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel

from detector.errors import DataError

FloatArray = npt.NDArray[np.float64]
IOU_THRESHOLDS: npt.NDArray[np.float64] = np.round(np.linspace(0.5, 0.95, 10), 2)
RECALL_POINTS: npt.NDArray[np.float64] = np.linspace(0.0, 1.0, 101)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class ImageResult:
    """One image: ground truth and predictions, boxes as x1, y1, x2, y2 pixels."""

    gt_boxes: FloatArray
    gt_classes: npt.NDArray[np.int64]
    boxes: FloatArray
    scores: FloatArray
    classes: npt.NDArray[np.int64]


class ClassMetrics(BaseModel):
    instances: int
    detections: int
    precision: float
    recall: float
    ap50: float
    ap50_95: float


class EvalReport(BaseModel):
    model: str
    data: str
    split: str
    images: int
    instances: int
    conf: float
    iou_nms: float
    pr_conf: float
    map50: float
    map50_95: float
    precision: float
    recall: float
    per_class: dict[str, ClassMetrics]


class FpClass(BaseModel):
    detections: int
    per_100_frames: float
    frames_with_detection: int
    max_confidence: float


class FpReport(BaseModel):
    model: str
    video: str
    frames: int
    first_frame: int
    last_frame: int
    stride: int
    conf: float
    per_class: dict[str, FpClass]
    total_per_100_frames: float


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box in ``a`` (n, 4) with every box in ``b`` (m, 4) → (n, m)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match(
    boxes: FloatArray, scores: FloatArray, gt: FloatArray, thresholds: FloatArray = IOU_THRESHOLDS
) -> npt.NDArray[np.bool_]:
    """COCO greedy matching within one image and class: ``(n_pred, n_thresholds)`` true positives.

    Detections are taken by descending score; each takes the unmatched ground truth it overlaps most
    (IoU >= threshold), independently at every threshold.
    """
    n, m = len(boxes), len(gt)
    tp = np.zeros((n, len(thresholds)), bool)
    if n == 0 or m == 0:
        return tp
    ious = iou_matrix(boxes, gt)
    order = np.argsort(-np.asarray(scores), kind="stable")
    for t, thr in enumerate(thresholds):
        taken = np.zeros(m, bool)
        for i in order:
            cand = np.where(taken, -1.0, ious[i])
            j = int(np.argmax(cand))
            if cand[j] >= thr - 1e-12:
                taken[j] = True
                tp[i, t] = True
    return tp


def average_precision(tp: npt.NDArray[np.bool_], scores: FloatArray, n_gt: int) -> FloatArray:
    """101-point interpolated AP per threshold column of ``tp`` (COCO). ``nan`` when ``n_gt`` is 0."""
    tp = np.asarray(tp, bool).reshape(len(scores), -1) if len(scores) else np.zeros((0, tp.shape[-1]), bool)
    n_thr = tp.shape[1]
    if n_gt == 0:
        return np.full(n_thr, np.nan)
    if len(scores) == 0:
        return np.zeros(n_thr)
    order = np.argsort(-np.asarray(scores), kind="stable")
    tps = np.cumsum(tp[order], axis=0).astype(np.float64)
    fps = np.cumsum(~tp[order], axis=0).astype(np.float64)
    recall = tps / n_gt
    precision = tps / np.maximum(tps + fps, 1e-12)
    aps = np.zeros(n_thr)
    for t in range(n_thr):
        p = precision[:, t].copy()
        # precision envelope: the best precision at this recall or any higher one
        p = np.maximum.accumulate(p[::-1])[::-1]
        idx = np.searchsorted(recall[:, t], RECALL_POINTS, side="left")
        q = np.where(idx < len(p), p[np.minimum(idx, len(p) - 1)], 0.0)
        aps[t] = q.mean()
    return aps


def compute_metrics(
    results: Sequence[ImageResult], names: dict[int, str], pr_conf: float = 0.25
) -> tuple[dict[str, ClassMetrics], dict[str, float]]:
    """Per-class metrics and their means (over classes that have ground truth)."""
    per: dict[str, ClassMetrics] = {}
    aps50, aps, ps, rs = [], [], [], []
    for cid, name in names.items():
        tps, scs = [], []
        n_gt = 0
        for r in results:
            g = r.gt_boxes[r.gt_classes == cid]
            sel = r.classes == cid
            n_gt += len(g)
            if sel.any():
                tps.append(match(r.boxes[sel], r.scores[sel], g))
                scs.append(r.scores[sel])
        tp = np.concatenate(tps) if tps else np.zeros((0, len(IOU_THRESHOLDS)), bool)
        sc = np.concatenate(scs) if scs else np.zeros(0)
        ap = average_precision(tp, sc, n_gt)
        work = sc >= pr_conf
        n_det = int(work.sum())
        tp_work = int(tp[work, 0].sum())
        precision = tp_work / n_det if n_det else 0.0
        recall = tp_work / n_gt if n_gt else 0.0
        per[name] = ClassMetrics(
            instances=n_gt,
            detections=n_det,
            precision=round(precision, 4),
            recall=round(recall, 4),
            ap50=round(float(ap[0]), 4) if n_gt else 0.0,
            ap50_95=round(float(np.mean(ap)), 4) if n_gt else 0.0,
        )
        if n_gt:
            aps50.append(ap[0])
            aps.append(np.mean(ap))
            ps.append(precision)
            rs.append(recall)
    means = {
        "map50": round(float(np.mean(aps50)), 4) if aps50 else 0.0,
        "map50_95": round(float(np.mean(aps)), 4) if aps else 0.0,
        "precision": round(float(np.mean(ps)), 4) if ps else 0.0,
        "recall": round(float(np.mean(rs)), 4) if rs else 0.0,
    }
    return per, means


def dataset_split(data: str | os.PathLike[str], split: str) -> tuple[Path, Path, dict[int, str] | None]:
    """(images dir, labels dir, names or None) of a YOLO dataset given its folder or data.yaml."""
    p = Path(data)
    names: dict[int, str] | None = None
    root = p
    rel = f"images/{split}"
    if p.is_file():
        try:
            doc = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise DataError(f"--data {p}: not YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise DataError(f"--data {p}: not a YOLO data.yaml")
        root = Path(doc.get("path") or p.parent)
        if not root.is_absolute():
            root = p.parent / root
        rel = str(doc.get(split, rel))
        raw = doc.get("names")
        if isinstance(raw, dict):
            names = {int(k): str(v) for k, v in raw.items()}
        elif isinstance(raw, list):
            names = dict(enumerate(str(v) for v in raw))
    elif p.is_dir():
        if (p / "data.yaml").is_file():
            return dataset_split(p / "data.yaml", split)
    else:
        raise DataError(f"--data {p}: no such folder or file")
    images = root / rel
    labels = root / rel.replace("images", "labels", 1)
    if not images.is_dir():
        raise DataError(f"--data {p}: no images folder {images} for split {split!r}")
    return images, labels, names


def read_labels(path: Path, w: int, h: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """YOLO label file → (boxes x1y1x2y2 pixels, classes). A missing file means no objects."""
    if not path.is_file():
        return np.zeros((0, 4)), np.zeros(0, np.int64)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    try:
        arr = np.array([[float(v) for v in r[:5]] for r in rows], np.float64).reshape(-1, 5)
    except ValueError as exc:
        raise DataError(f"{path}: not a YOLO label file ({exc})") from exc
    cls = arr[:, 0].astype(np.int64)
    cx, cy, bw, bh = arr[:, 1] * w, arr[:, 2] * h, arr[:, 3] * w, arr[:, 4] * h
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1), cls


@contextmanager
def _progress(enabled: bool, label: str, total: int) -> Iterator[object]:
    from modeling.progress import progress_bar

    with progress_bar(label, quiet=not enabled) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance


def _detector(model: str | os.PathLike[str], conf: float, iou: float) -> object:
    from detector.yolo import YoloDetector

    return YoloDetector(Path(model), providers=["CPUExecutionProvider"], conf=conf, iou=iou)


@dataclass(frozen=True)
class Inferred:
    """``model`` run on every image of a dataset split (``files[i]`` gave ``results[i]``), not yet
    scored: :meth:`report` scores all of them or a subset, without running the model again."""

    model: str
    data: str
    split: str
    conf: float
    iou: float
    names: dict[int, str]
    files: list[Path]
    results: list[ImageResult]

    def report(self, pr_conf: float = 0.25, keep: Callable[[Path], bool] | None = None) -> EvalReport:
        """The scores of the images ``keep`` keeps (default: all; see module docstring)."""
        results = [r for f, r in zip(self.files, self.results, strict=True) if keep is None or keep(f)]
        per, means = compute_metrics(results, self.names, pr_conf)
        return EvalReport(
            model=self.model, data=self.data, split=self.split, images=len(results),
            instances=sum(c.instances for c in per.values()), conf=self.conf, iou_nms=self.iou,
            pr_conf=pr_conf, per_class=per, **means,
        )  # fmt: skip


def evaluate_dataset(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str],
    split: str = "val",
    conf: float = 0.001,
    iou: float = 0.6,
    pr_conf: float = 0.25,
    batch: int = 8,
    progress: bool = False,
) -> EvalReport:
    """Run ``model`` on a YOLO dataset split and score it (see module docstring)."""
    return infer_dataset(model, data, split, conf, iou, batch, progress).report(pr_conf)


def infer_dataset(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str],
    split: str = "val",
    conf: float = 0.001,
    iou: float = 0.6,
    batch: int = 8,
    progress: bool = False,
) -> Inferred:
    """Run ``model`` on every image of a YOLO dataset split, for :meth:`Inferred.report`."""
    images_dir, labels_dir, data_names = dataset_split(data, split)
    files = sorted(f for f in images_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"--data {data}: no images in {images_dir}")
    det = _detector(model, conf, iou)
    names: dict[int, str] = dict(det.info.names)  # type: ignore[attr-defined]
    # dataset class ids → model class ids, by name where both have names
    remap: dict[int, int] = {}
    if data_names:
        by_name = {v: k for k, v in names.items()}
        for k, v in data_names.items():
            if v not in by_name:
                raise DataError(
                    f"--data {data}: class {v!r} is not one of the model's classes {sorted(by_name)}"
                )
            remap[k] = by_name[v]
    results: list[ImageResult] = []
    with _progress(progress, "eval", len(files)) as advance:
        for start in range(0, len(files), max(1, batch)):
            chunk = files[start : start + batch]
            frames = []
            for f in chunk:
                img = cv2.imread(str(f))
                if img is None:
                    raise DataError(f"{f}: not an image OpenCV can read")
                frames.append(img)
            dets = det.detect(frames)  # type: ignore[attr-defined]
            for f, img, d in zip(chunk, frames, dets, strict=True):
                h, w = img.shape[:2]
                gb, gc = read_labels(labels_dir / (f.stem + ".txt"), w, h)
                if remap:
                    gc = np.array([remap.get(int(c), -1) for c in gc], np.int64)
                results.append(
                    ImageResult(
                        gb, gc, d.xyxy.astype(np.float64), d.confidence.astype(np.float64), d.class_id
                    )
                )
            advance(len(chunk))  # type: ignore[operator]
    eval_names = names if not data_names else {remap[k]: v for k, v in data_names.items()}
    return Inferred(str(model), str(data), split, conf, iou, dict(sorted(eval_names.items())), files, results)


def fp_check(
    model: str | os.PathLike[str],
    video: str | os.PathLike[str] | None = None,
    conf: float = 0.25,
    iou: float = 0.45,
    start: int = 0,
    end: int | None = None,
    stride: int = 1,
    batch: int = 8,
    progress: bool = False,
) -> FpReport:
    """Detections per 100 frames per class on footage that shows no violations."""
    from modeling.synth.backgrounds import vtest_path

    path = Path(video) if video else vtest_path()
    if not path.is_file():
        raise DataError(f"--video {path}: no such file")
    if stride < 1 or start < 0 or (end is not None and end <= start):
        raise DataError(f"bad frame range: start={start} end={end} stride={stride}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(f"--video {path}: OpenCV cannot open it")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    det = _detector(model, conf, iou)
    names: dict[int, str] = dict(det.info.names)  # type: ignore[attr-defined]
    counts = dict.fromkeys(names, 0)
    frames_with = dict.fromkeys(names, 0)
    max_conf = dict.fromkeys(names, 0.0)
    n_frames, last = 0, start
    stop = end if end is not None else (total or 10**9)

    def run(batch_frames: list[npt.NDArray[np.uint8]]) -> None:
        for d in det.detect(batch_frames):  # type: ignore[attr-defined]
            for cid in names:
                sel = d.class_id == cid
                k = int(sel.sum())
                counts[cid] += k
                if k:
                    frames_with[cid] += 1
                    max_conf[cid] = max(max_conf[cid], float(d.confidence[sel].max()))

    try:
        with _progress(
            progress, "fpcheck", max(0, (min(stop, total or stop) - start + stride - 1) // stride)
        ) as adv:
            pending: list[npt.NDArray[np.uint8]] = []
            i = 0
            while i < stop:
                ok, frame = cap.read()
                if not ok:
                    break
                if i >= start and (i - start) % stride == 0:
                    pending.append(frame)
                    last = i
                    if len(pending) == batch:
                        run(pending)
                        n_frames += len(pending)
                        adv(len(pending))  # type: ignore[operator]
                        pending = []
                i += 1
            if pending:
                run(pending)
                n_frames += len(pending)
                adv(len(pending))  # type: ignore[operator]
    finally:
        cap.release()
    if n_frames == 0:
        raise DataError(f"--video {path}: no frames in range start={start} end={end}")
    per = {
        names[c]: FpClass(
            detections=counts[c],
            per_100_frames=round(100.0 * counts[c] / n_frames, 3),
            frames_with_detection=frames_with[c],
            max_confidence=round(max_conf[c], 4),
        )
        for c in names
    }
    return FpReport(
        model=str(model),
        video=str(path),
        frames=n_frames,
        first_frame=start,
        last_frame=last,
        stride=stride,
        conf=conf,
        per_class=per,
        total_per_100_frames=round(100.0 * sum(counts.values()) / n_frames, 3),
    )
