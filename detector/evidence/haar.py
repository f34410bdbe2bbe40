"""A small Viola-Jones (Haar cascade) detector in numpy, for OpenCV's cascade files.

OpenCV 5 dropped ``cv2.CascadeClassifier`` from its main modules and its wheels no longer ship the
``haarcascade_*.xml`` files, so public copies use this evaluator with the cascade files of Debian's
``opencv-data`` package (``/usr/share/opencv4/haarcascades``; ``cv2.data.haarcascades`` is looked at
first). It follows OpenCV's ``detectMultiScale``: the image is scaled down by ``scale_factor`` steps,
a fixed window slides over each scale (step 2 pixels below scale 2, else 1), each window is
variance-normalised and run through the boosted stages (early rejection), and overlapping hits are
grouped (``min_neighbors``). Supported: HAAR stump cascades without tilted features, in the new
(``opencv-cascade-classifier``) and old (``opencv-haar-classifier``) XML formats — e.g.
``frontalface_default``, ``profileface``, ``licence_plate_rus_16stages``.

Evaluation is vectorised per stage over all surviving windows, not per window.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detector.errors import EvidenceError

CASCADE_DIRS: tuple[str, ...] = (
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
)

Rect = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Cascade:
    name: str
    width: int
    height: int
    # per weak classifier (stump): up to 3 rects (x, y, w, h, weight) padded with weight 0
    rects: npt.NDArray[np.float64]  # (n_weak, 3, 5)
    threshold: npt.NDArray[np.float64]  # (n_weak,)
    left: npt.NDArray[np.float64]
    right: npt.NDArray[np.float64]
    stages: tuple[tuple[int, int, float], ...]  # (first weak, end weak, stage threshold)


def cascade_dirs() -> list[str]:
    bundled = getattr(getattr(cv2, "data", None), "haarcascades", None)
    return ([str(bundled)] if bundled else []) + list(CASCADE_DIRS)


def find_cascade(name: str) -> Path:
    """``haarcascade_<name>.xml`` from OpenCV's data folder or Debian's opencv-data."""
    for d in cascade_dirs():
        p = Path(d) / f"haarcascade_{name}.xml"
        if p.is_file():
            return p
    raise EvidenceError(
        f"Haar cascade {name!r} not found in {', '.join(cascade_dirs())}: install Debian's opencv-data "
        "(apt-get install opencv-data)"
    )


def _floats(text: str | None) -> list[float]:
    return [float(v) for v in (text or "").split()]


def _rects(feature: ET.Element, where: str) -> list[tuple[float, ...]]:
    tilted = feature.find("tilted")
    if tilted is not None and (tilted.text or "0").strip() not in ("0", ""):
        raise EvidenceError(f"{where}: tilted Haar features are not supported")
    out = [tuple(_floats(r.text)) for r in feature.find("rects") or []]
    if not 1 <= len(out) <= 3 or any(len(r) != 5 for r in out):
        raise EvidenceError(f"{where}: expected 1-3 rects of 5 numbers per feature")
    return out


@functools.lru_cache(maxsize=8)
def load_cascade(path: str | Path) -> Cascade:
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except (OSError, ET.ParseError) as exc:
        raise EvidenceError(f"{p}: cannot read the cascade: {exc}") from exc
    node = root[0]
    rects: list[list[tuple[float, ...]]] = []
    thr: list[float] = []
    left: list[float] = []
    right: list[float] = []
    stages: list[tuple[int, int, float]] = []
    if node.get("type_id") == "opencv-haar-classifier":  # the old format
        w, h = (int(v) for v in _floats(node.findtext("size")))
        for si, stage in enumerate(node.find("stages") or []):
            start = len(thr)
            for tree in stage.find("trees") or []:
                if len(tree) != 1 or tree[0].find("left_val") is None or tree[0].find("right_val") is None:
                    raise EvidenceError(f"{p}: stage {si}: only stump trees are supported")
                n = tree[0]
                feature = n.find("feature")
                assert feature is not None
                rects.append(_rects(feature, f"{p}: stage {si}"))
                thr.append(float(n.findtext("threshold") or 0))
                left.append(float(n.findtext("left_val") or 0))
                right.append(float(n.findtext("right_val") or 0))
            stages.append((start, len(thr), float(stage.findtext("stage_threshold") or 0)))
    else:
        if (node.findtext("featureType") or "").strip() != "HAAR":
            raise EvidenceError(f"{p}: only HAAR cascades are supported")
        w, h = int(node.findtext("width") or 0), int(node.findtext("height") or 0)
        features = [_rects(f, str(p)) for f in node.find("features") or []]
        for si, stage in enumerate(node.find("stages") or []):
            start = len(thr)
            for weak in stage.find("weakClassifiers") or []:
                nodes = _floats(weak.findtext("internalNodes"))
                leaves = _floats(weak.findtext("leafValues"))
                if len(nodes) != 4 or len(leaves) != 2:
                    raise EvidenceError(f"{p}: stage {si}: only stump classifiers are supported")
                rects.append(features[int(nodes[2])])
                thr.append(nodes[3])
                left.append(leaves[0])
                right.append(leaves[1])
            stages.append((start, len(thr), float(stage.findtext("stageThreshold") or 0)))
    arr = np.zeros((len(rects), 3, 5), dtype=np.float64)
    for i, rs in enumerate(rects):
        for j, r in enumerate(rs):
            arr[i, j] = r
    if not stages or w <= 2 or h <= 2:
        raise EvidenceError(f"{p}: not a usable cascade (no stages or no window size)")
    return Cascade(
        name=p.stem, width=w, height=h, rects=arr, threshold=np.array(thr), left=np.array(left),
        right=np.array(right), stages=tuple(stages),
    )  # fmt: skip


def _rect_sum(
    table: npt.NDArray[np.float64], base: npt.NDArray[np.int64], offsets: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Sums of rectangles at windows ``base`` (flat indices); ``offsets`` (..., 4) corner offsets."""
    idx = base.reshape((-1,) + (1,) * offsets.ndim) + offsets[None]
    v = table[idx]
    return v[..., 0] - v[..., 1] - v[..., 2] + v[..., 3]  # type: ignore[no-any-return]


def _corner_offsets(
    x: npt.NDArray[np.int64],
    y: npt.NDArray[np.int64],
    w: npt.NDArray[np.int64],
    h: npt.NDArray[np.int64],
    stride: int,
) -> npt.NDArray[np.int64]:
    tl = y * stride + x
    return np.stack([tl + h * stride + w, tl + h * stride, tl + w, tl], axis=-1)


def _dense_stage(
    cascade: Cascade,
    phases: dict[tuple[int, int], npt.NDArray[np.int64]],
    start: int,
    end: int,
    stage_thr: float,
    nf: npt.NDArray[np.float64],
    shape: tuple[int, int],
    step: int,
) -> npt.NDArray[np.bool_]:
    """One stage over every window of the grid, with slices of contiguous phase tables (the
    integral image subsampled at each offset modulo ``step``), no gathers."""
    ny, nx = shape
    total = np.zeros(shape, np.float64)

    def at(yy: int, xx: int) -> npt.NDArray[np.int64]:
        t = phases[(yy % step, xx % step)]
        return t[yy // step : yy // step + ny, xx // step : xx // step + nx]

    for k in range(start, end):
        val = np.zeros(shape, np.float64)
        for x, y, w, h, wt in cascade.rects[k]:
            if wt == 0:
                continue
            x, y, w, h = int(x), int(y), int(w), int(h)
            val += wt * (at(y + h, x + w) - at(y, x + w) - at(y + h, x) + at(y, x))
        total += np.where(val < cascade.threshold[k] * nf, cascade.left[k], cascade.right[k])
    return total >= stage_thr - 1e-6  # type: ignore[no-any-return]


def _scale_hits(
    cascade: Cascade, gray: npt.NDArray[np.uint8], step: int, chunk: int = 1 << 22
) -> npt.NDArray[np.int64]:
    """Top-left corners (x, y) of the windows that pass every stage, in ``gray``'s pixels.

    Stages run densely over the whole grid (strided slices) while most windows are alive, then
    on the survivors only (gathers)."""
    H, W = gray.shape
    ww, wh = cascade.width, cascade.height
    if wh > H or ww > W:
        return np.zeros((0, 2), dtype=np.int64)
    g = gray.astype(np.int64)
    ii = np.zeros((H + 1, W + 1), np.int64)
    ii[1:, 1:] = g.cumsum(0).cumsum(1)
    sq = np.zeros((H + 1, W + 1), np.int64)
    sq[1:, 1:] = (g * g).cumsum(0).cumsum(1)
    stride = W + 1
    ys, xs = np.mgrid[0 : H - wh + 1 : step, 0 : W - ww + 1 : step]
    grid = ys.shape
    base = (ys * stride + xs).ravel().astype(np.int64)
    iif, sqf = ii.ravel(), sq.ravel()
    norm = _corner_offsets(np.array(1), np.array(1), np.array(ww - 2), np.array(wh - 2), stride)
    area = float((ww - 2) * (wh - 2))
    s = _rect_sum(iif, base, norm).astype(np.float64)
    q = _rect_sum(sqf, base, norm).astype(np.float64)
    nf = area * q - s * s
    nf = np.where(nf > 0, np.sqrt(np.maximum(nf, 0)), 1.0)
    r = cascade.rects.astype(np.int64)
    offsets = _corner_offsets(r[..., 0], r[..., 1], r[..., 2], r[..., 3], stride)  # (n_weak, 3, 4)
    weights = cascade.rects[..., 4]  # (n_weak, 3)
    stages = list(cascade.stages)
    # dense while more than a quarter of the windows are alive
    mask = np.ones(grid, dtype=bool)
    nf2 = nf.reshape(grid)
    phases = {
        (py, px): np.ascontiguousarray(ii[py::step, px::step]) for py in range(step) for px in range(step)
    }
    while stages and mask.mean() > 0.25:
        start, end, stage_thr = stages.pop(0)
        mask &= _dense_stage(cascade, phases, start, end, stage_thr, nf2, grid, step)
    flat = mask.ravel()
    alive, anf = base[flat], nf[flat]
    for start, end, stage_thr in stages:
        if alive.size == 0:
            break
        off, wts = offsets[start:end], weights[start:end]
        k = end - start
        per = max(1, chunk // (k * 12))
        keep = np.empty(alive.size, dtype=bool)
        for i in range(0, alive.size, per):
            a, n = alive[i : i + per], anf[i : i + per]
            sums = _rect_sum(iif, a, off)  # (n, k, 3)
            val = (sums * wts).sum(axis=2)  # (n, k)
            leaf = np.where(
                val < cascade.threshold[start:end] * n[:, None],
                cascade.left[start:end],
                cascade.right[start:end],
            )
            keep[i : i + per] = leaf.sum(axis=1) >= stage_thr - 1e-6
        alive, anf = alive[keep], anf[keep]
    return np.stack([alive % stride, alive // stride], axis=1)


def _group(rects: list[Rect], min_neighbors: int, eps: float = 0.2) -> list[Rect]:
    """OpenCV's ``groupRectangles``: cluster similar rectangles, keep clusters with more than
    ``min_neighbors`` members (averaged), drop ones inside a stronger cluster."""
    if min_neighbors <= 0 or not rects:
        return list(rects)
    n = len(rects)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        x1, y1, w1, h1 = rects[i]
        for j in range(i + 1, n):
            x2, y2, w2, h2 = rects[j]
            delta = eps * (min(w1, w2) + min(h1, h2)) * 0.5
            if (
                abs(x1 - x2) <= delta
                and abs(y1 - y2) <= delta
                and abs(x1 + w1 - x2 - w2) <= delta
                and abs(y1 + h1 - y2 - h2) <= delta
            ):
                parent[find(i)] = find(j)
    clusters: dict[int, list[Rect]] = {}
    for i in range(n):
        clusters.setdefault(find(i), []).append(rects[i])
    avg: list[tuple[Rect, int]] = []
    for members in clusters.values():
        if len(members) <= min_neighbors:
            continue
        m = np.array(members, dtype=np.float64).mean(axis=0)
        avg.append(((round(m[0]), round(m[1]), round(m[2]), round(m[3])), len(members)))
    out = []
    for i, (r1, n1) in enumerate(avg):
        inside = False
        for j, (r2, n2) in enumerate(avg):
            if i == j or n2 <= max(3, n1):
                continue
            dx, dy = round(r2[2] * eps), round(r2[3] * eps)
            if (
                r1[0] >= r2[0] - dx
                and r1[1] >= r2[1] - dy
                and r1[0] + r1[2] <= r2[0] + r2[2] + dx
                and r1[1] + r1[3] <= r2[1] + r2[3] + dy
            ):
                inside = True
                break
        if not inside:
            out.append(r1)
    return out


def detect_multiscale(
    cascade: Cascade,
    gray: npt.NDArray[np.uint8],
    *,
    scale_factor: float = 1.1,
    min_neighbors: int = 3,
    min_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
) -> list[Rect]:
    """Objects in a grayscale image, as ``(x, y, w, h)`` in its pixels (OpenCV's semantics)."""
    if gray.ndim != 2:
        raise ValueError(f"expected a grayscale image (h, w), got shape {gray.shape}")
    H, W = gray.shape
    min_w, min_h = min_size or (cascade.width, cascade.height)
    max_w, max_h = max_size or (W, H)
    found: list[Rect] = []
    factor = 1.0
    while True:
        win_w, win_h = round(cascade.width * factor), round(cascade.height * factor)
        sw, sh = round(W / factor), round(H / factor)
        if sw < cascade.width or sh < cascade.height or win_w > max_w or win_h > max_h:
            break
        if win_w >= min_w and win_h >= min_h:
            scaled = gray if factor == 1.0 else cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_LINEAR)
            step = 2 if factor <= 2.0 else 1
            for x, y in _scale_hits(cascade, scaled, step):
                found.append((round(int(x) * factor), round(int(y) * factor), win_w, win_h))
        factor *= scale_factor
    return _group(found, min_neighbors)
