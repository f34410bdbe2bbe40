"""``nce detect --model PATH --image PATH [--json]``: run the detector on one image."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from detector.config import DEFAULT_CONF
from detector.errors import DetectorError


def register(sub: Any) -> None:
    parser = sub.add_parser("detect", help="run a YOLO ONNX model on one image")
    parser.add_argument("--model", required=True, type=Path, help="Ultralytics detect export (.onnx)")
    parser.add_argument("--image", required=True, type=Path, help="image file (JPEG, PNG, …)")
    parser.add_argument(
        "--conf",
        type=float,
        default=DEFAULT_CONF,
        help=f"score threshold (default {DEFAULT_CONF}, as nce run)",
    )
    parser.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default 0.45)")
    parser.add_argument(
        "--providers",
        default="CPUExecutionProvider",
        help="comma-separated ONNX Runtime execution providers (default CPUExecutionProvider)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_detect)


def _detect(args: argparse.Namespace) -> int:
    import cv2

    from detector.yolo import YoloDetector

    if not args.image.is_file():
        raise DetectorError(f"image {args.image} does not exist")
    frame = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if frame is None:
        raise DetectorError(f"{args.image} is not an image OpenCV can read")
    raw = cv2.imread(str(args.image), cv2.IMREAD_UNCHANGED)
    if raw is not None and (raw.ndim == 2 or raw.shape[2] == 1):
        # a night/IR camera's frame: the model sees it as three equal channels, as nce run does
        print(
            f"nce detect: note: {args.image} is grayscale: converted to 3 equal channels (the model was "
            "trained on colour; its card says how it does on grayscale)",
            file=sys.stderr,
        )
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    detector = YoloDetector(args.model, providers=providers, conf=args.conf, iou=args.iou)
    dets = detector.detect([frame])[0]
    names = detector.info.names
    rows: list[dict[str, Any]] = [
        {
            "class_id": int(c),
            "label": names.get(int(c), str(int(c))),
            "score": round(float(s), 5),
            "box": [round(float(v), 2) for v in box],
        }
        for box, s, c in zip(dets.xyxy, dets.confidence, dets.class_id, strict=True)
    ]
    if args.json:
        doc = {
            "model": {
                "path": str(args.model),
                "names": {str(k): v for k, v in names.items()},
                "imgsz": list(detector.info.imgsz),
                "providers": list(detector.info.providers),
            },
            "detections": rows,
        }
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.image.name}: {len(rows)} detection(s) — {args.model.name}")
    for col in ("#", "label", "score", "x1", "y1", "x2", "y2"):
        table.add_column(col, justify="right" if col not in ("label",) else "left")
    for i, r in enumerate(rows):
        table.add_row(str(i), r["label"], f"{r['score']:.3f}", *(f"{v:.1f}" for v in r["box"]))
    Console().print(table)
    return 0
