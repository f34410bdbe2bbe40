"""Public-copy face blurring: how many visible faces stay readable, old (Haar) vs new (CenterFace).

Ground truth: ``benchmarks/data/blur_faces.json`` — faces labelled by hand on messi5.jpg and four
frames of vtest.avi (pedestrians, faces 7-18 px high), plus a composite: a real face pasted on
vtest.avi's lawn at heights from 10 to 80 px (boxes known from the paste). Each image goes through
both methods exactly as ``nce evidence publish`` treats a still: the detector's boxes, grown 25 %,
are pixelated and blurred (:func:`detector.evidence.publish.blur_regions`). A labelled face counts
as *blurred* when at least ``COVER`` of its box lies inside a blurred region, else *readable*.

- old: :func:`detector.evidence.publish.haar_boxes` (frontal + profile + mirrored profile
  cascades, plate cascade), the method before CenterFace;
- new: :func:`detector.evidence.publish.privacy_boxes` (CenterFace faces + Haar plates).

``python -m benchmarks.bench_blur`` writes results/blur.json, results/blur.png (before/after) and
its RESULTS.md section.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks.common import RESULTS, ROOT, VTEST, write_result
from detector.evidence.publish import blur_regions, haar_boxes, padded, privacy_boxes

Image8 = npt.NDArray[np.uint8]
Rect = tuple[int, int, int, int]
GT = ROOT / "benchmarks" / "data" / "blur_faces.json"
SAMPLES = VTEST.parent
COVER = 0.5  # a face is blurred when >= this share of its box is inside a blurred region
GROW = 0.25  # as publish_copy


def _old(img: Image8) -> list[Rect]:
    faces, plates = haar_boxes(img)
    return faces + plates


def _new(img: Image8) -> list[Rect]:
    faces, plates = privacy_boxes(img)
    return faces + plates


METHODS: dict[str, Callable[[Image8], list[Rect]]] = {"haar (old)": _old, "centerface (new)": _new}


def vtest_frames(wanted: set[int]) -> dict[int, Image8]:
    cap = cv2.VideoCapture(str(VTEST))
    out: dict[int, Image8] = {}
    n = 0
    while len(out) < len(wanted):
        ok, img = cap.read()
        if not ok:
            break
        if n in wanted:
            out[n] = np.asarray(img, dtype=np.uint8)
        n += 1
    cap.release()
    if set(out) != wanted:
        raise SystemExit(f"{VTEST}: frames {sorted(wanted - set(out))} missing (make data)")
    return out


def composite(spec: dict[str, Any], background: Image8) -> tuple[Image8, list[Rect]]:
    """A real face pasted at several sizes; returns the image and the pasted faces' boxes."""
    messi = cv2.imread(str(SAMPLES / "messi5.jpg"))
    cx, cy, cw, ch = spec["crop"]
    fx, fy, fw, fh = spec["face_in_crop"]
    crop = messi[cy : cy + ch, cx : cx + cw]
    img = background.copy()
    x, y0 = spec["origin"]
    boxes: list[Rect] = []
    for height in spec["face_heights"]:
        s = height / fh
        w, h = max(1, round(cw * s)), max(1, round(ch * s))
        y = y0 + (80 * 62 // 42 - h)  # bottoms aligned, so that all fit on the lawn
        img[y : y + h, x : x + w] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
        boxes.append((x + round(fx * s), y + round(fy * s), round(fw * s), round(fh * s)))
        x += w + spec["gap"]
    return img, boxes


def coverage(gt: Rect, blurred: list[Rect], shape: tuple[int, ...]) -> float:
    h, w = shape[:2]
    mask = np.zeros((h, w), bool)
    for box in blurred:
        x1, y1, x2, y2 = padded(box, GROW, w, h)
        if x2 - x1 >= 2 and y2 - y1 >= 2:  # as blur_regions
            mask[y1:y2, x1:x2] = True
    x, y, bw, bh = gt
    return float(mask[y : y + bh, x : x + bw].mean())


def cases() -> list[tuple[str, Image8, list[dict[str, Any]]]]:
    doc = json.loads(GT.read_text(encoding="utf-8"))
    frames = vtest_frames(
        {i["frame"] for i in doc["images"] if i["source"] == "vtest.avi"}
        | {doc["composite"]["background_frame"]}
    )
    out: list[tuple[str, Image8, list[dict[str, Any]]]] = []
    for item in doc["images"]:
        if item["source"] == "vtest.avi":
            out.append((f"vtest#{item['frame']}", frames[item["frame"]], item["faces"]))
        else:
            img = cv2.imread(str(SAMPLES / item["source"]))
            if img is None:
                raise SystemExit(f"{SAMPLES / item['source']}: missing (make data)")
            out.append((item["source"], np.asarray(img, dtype=np.uint8), item["faces"]))
    spec = doc["composite"]
    img, boxes = composite(spec, frames[spec["background_frame"]])
    out.append(("composite", img, [{"box": list(b), "view": "frontal", "height": b[3]} for b in boxes]))
    return out


def run() -> dict[str, Any]:
    per_method: dict[str, Any] = {}
    copies: dict[str, dict[str, Image8]] = {}
    for name, fn in METHODS.items():
        faces: list[dict[str, Any]] = []
        ms: list[float] = []
        area = 0.0
        copies[name] = {}
        for label, img, gt in cases():
            t0 = time.perf_counter()
            boxes = fn(img)
            ms.append((time.perf_counter() - t0) * 1000)
            copies[name][label] = blur_regions(img, boxes, grow=GROW)
            area += coverage((0, 0, img.shape[1], img.shape[0]), boxes, img.shape)
            for face in gt:
                c = coverage(tuple(face["box"]), boxes, img.shape)  # type: ignore[arg-type]
                faces.append({"image": label, **face, "covered": round(c, 3), "blurred": c >= COVER})
        per_method[name] = {"faces": faces, "ms_per_image": ms, "image_area_blurred": area / len(ms)}
    return {"cover": COVER, "grow": GROW, "methods": per_method, "copies": copies}


def summary(faces: list[dict[str, Any]], which: Callable[[dict[str, Any]], bool]) -> str:
    chosen = [f for f in faces if which(f)]
    done = sum(f["blurred"] for f in chosen)
    return f"{done}/{len(chosen)}" if chosen else "-"


def picture(copies: dict[str, dict[str, Image8]], originals: dict[str, Image8], path: Path) -> None:
    views = {"messi5.jpg": None, "vtest#600": (430, 180, 338, 170), "composite": (10, 385, 480, 128)}
    rows = []
    for label, roi in views.items():
        cells = [originals[label], *(copies[m][label] for m in METHODS)]
        titles = ["original", *METHODS]
        row = []
        for img, title in zip(cells, titles, strict=True):
            if roi is not None:
                x, y, w, h = roi
                img = img[y : y + h, x : x + w]
            img = cv2.resize(
                img, (420, round(img.shape[0] * 420 / img.shape[1])), interpolation=cv2.INTER_NEAREST
            )
            img = cv2.copyMakeBorder(img, 22, 4, 4, 4, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            cv2.putText(img, f"{label}: {title}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
            row.append(img)
        height = max(c.shape[0] for c in row)
        rows.append(
            np.hstack(
                [
                    cv2.copyMakeBorder(
                        c, 0, height - c.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255)
                    )
                    for c in row
                ]
            )
        )
    cv2.imwrite(str(path), np.vstack(rows))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None).parse_args(argv)
    result = run()
    copies = result.pop("copies")
    originals = {label: img for label, img, _ in cases()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    picture(copies, originals, RESULTS / "blur.png")
    table = []
    for name, r in result["methods"].items():
        f = r["faces"]
        table.append(
            {
                "method": name,
                "blurred: all labelled": summary(f, lambda x: True),
                "messi5 (42 px)": summary(f, lambda x: x["image"] == "messi5.jpg"),
                "vtest frontal": summary(
                    f, lambda x: x["image"].startswith("vtest") and x["view"] == "frontal"
                ),
                "vtest profile": summary(
                    f, lambda x: x["image"].startswith("vtest") and x["view"] == "profile"
                ),
                "composite 10-14 px": summary(f, lambda x: x["image"] == "composite" and x["box"][3] < 20),
                "composite 20-80 px": summary(f, lambda x: x["image"] == "composite" and x["box"][3] >= 20),
                "readable faces left": sum(not x["blurred"] for x in f),
                "image area blurred %": 100 * r["image_area_blurred"],
                "ms/image (median)": float(np.median(r["ms_per_image"])),
            }
        )
    notes = (
        f"Faces labelled by hand in `benchmarks/data/blur_faces.json` (messi5.jpg: 1; vtest.avi frames "
        f"200/400/600/794: 14, 7-18 px high, frontal and profile; people seen from behind not counted) "
        f"plus a real face pasted at 10-80 px on vtest's lawn. *Blurred* = at least {COVER:.0%} of the "
        f"labelled box inside a blurred region (detector boxes grown {GROW:.0%}, as `nce evidence publish`). "
        f"*Image area blurred* = share of the image blurred (false alarms cost this). Before/after: "
        f"`results/blur.png`. A person must still review every public copy."
    )
    write_result("blur", result, table, notes)
    for row in table:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
