"""Every number of a model card, measured again with NCE's own runtime: ``models/<name>.metrics.json``.

    python -m benchmarks.model_metrics --model models/street-v1.onnx

Runs ``nce model eval`` on the held-out validation split of each synthetic set that exists under
``data/`` (regenerate them with the commands in the card) and ``nce model fpcheck`` on untouched
vtest.avi — all 795 frames and the frames never used as training backgrounds (480–794), at the
runtime's 0.25 and the site configs' default threshold — and writes them, with the model's sha256,
beside the model. ``tests/test_model_card.py`` checks that the card quotes this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from detector.config import DEFAULT_CONF
from modeling.evaluation import evaluate_dataset, fp_check
from nce.hashing import sha256_file

SETS = ("synth-v1", "synth-v2", "synth-v3", "synth-v4")
HELD_OUT_FROM = 480  # vtest.avi frames 0-479 (every 4th) are training backgrounds


def measure(model: Path, data_root: Path, sets: list[str]) -> dict[str, Any]:
    shown = model.relative_to(ROOT) if model.is_relative_to(ROOT) else model
    out: dict[str, Any] = {"model": str(shown), "model_sha256": sha256_file(model)}
    for name in sets:
        folder = data_root / name
        if not (folder / "data.yaml").is_file():
            print(f"skip {name}: {folder} has no data.yaml", file=sys.stderr)
            continue
        report = evaluate_dataset(model, folder, "val", progress=True)
        out[f"eval-{name.removeprefix('synth-')}-val"] = report.model_dump()
        print(f"{name} val: mAP50 {report.map50:.3f}, mAP50-95 {report.map50_95:.3f}", file=sys.stderr)
    for part, start in (("all", 0), ("heldout", HELD_OUT_FROM)):
        for conf in (0.25, DEFAULT_CONF):
            rep = fp_check(model, None, conf=conf, start=start, progress=True)
            out[f"fp-vtest-{part}-{round(conf * 100):03d}"] = rep.model_dump()
            worst = max(rep.per_class.items(), key=lambda kv: kv[1].per_100_frames)
            print(
                f"fpcheck {part} conf {conf:g}: worst {worst[0]} {worst[1].per_100_frames:.2f} / 100 frames",
                file=sys.stderr,
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "street-v1.onnx")
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="folder holding the synth-v* sets")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated dataset names")
    parser.add_argument("--out", type=Path, default=None, help="default: <model>.metrics.json beside it")
    args = parser.parse_args()
    model = args.model.resolve()
    if not model.is_file():
        raise SystemExit(f"no model at {model}")
    result = measure(model, args.data.resolve(), [s for s in args.sets.split(",") if s])
    out = args.out or model.with_suffix(".metrics.json")
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
