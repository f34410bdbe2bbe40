"""Scores of a model on a generated set, one per look (daylight, dusk, night, haze, colour cast).

The generator picks each image's look from its own random stream (:func:`modeling.synth.domain.look_of`),
so the look of ``train_000042.jpg`` in a set made with seed S is known without any side file. The
learning benchmark uses this to show where the shifted domain's gap sits before and after a fine-tune,
scoring the images of the one run that scored the whole set (:class:`modeling.evaluation.Inferred`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modeling.evaluation import Inferred, dataset_split
from modeling.synth.domain import Domain, look_of

INDEX = re.compile(r"^(?:train|val)_(\d+)$")


def image_look(image: Path, seed: int, domain: Domain) -> str:
    """The look of a generated image (named train_NNNNNN / val_NNNNNN) in a set made with ``seed``."""
    m = INDEX.match(image.stem)
    if m is None:
        raise ValueError(f"{image}: expected a generated image named train_NNNNNN / val_NNNNNN")
    return look_of(seed, int(m.group(1)), domain.lighting)


def looks_of(folder: Path, seed: int, domain: Domain, split: str = "train") -> dict[str, list[Path]]:
    """The images of ``folder``'s ``split`` by look (a set made by ``synth_dataset`` with ``seed``)."""
    images, _, _ = dataset_split(folder, split)
    out: dict[str, list[Path]] = {}
    for image in sorted(images.glob("*.jpg")):
        out.setdefault(image_look(image, seed, domain), []).append(image)
    return out


def map50_by_look(inferred: Inferred, seed: int, domain: Domain) -> dict[str, Any]:
    """{look: {"images": n, "map50": m}}: each look's images of ``inferred`` scored alone."""
    looks = {f: image_look(f, seed, domain) for f in inferred.files}
    out: dict[str, Any] = {}
    for look in sorted(set(looks.values())):
        report = inferred.report(keep={f for f, seen in looks.items() if seen == look}.__contains__)
        out[look] = {"images": report.images, "map50": round(report.map50, 4)}
    return out


def look_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: shifted-domain mAP50 by look, one line per benchmark row that has them."""
    rows = [r for r in rows if r.get("eval", {}).get("shifted_by_look")]
    if not rows:
        return ""
    looks = sorted({look for r in rows for look in r["eval"]["shifted_by_look"]})
    first = rows[0]["eval"]["shifted_by_look"]
    head = (
        "| labelled frames | "
        + " | ".join(f"{k} ({first.get(k, {}).get('images', 0)})" for k in looks)
        + " |"
    )
    lines = [head, "|---" * (len(looks) + 1) + "|"]
    for r in rows:
        by = r["eval"]["shifted_by_look"]
        n = r["labelled"] if r.get("variant", "loop") == "loop" else f"{r['labelled']} ({r['variant']})"
        lines.append(
            f"| {n} | " + " | ".join(f"{by[k]['map50']:.3f}" if k in by else "—" for k in looks) + " |"
        )
    return "Shifted-domain mAP50 by look (held-out test images per look in the header):\n\n" + "\n".join(
        lines
    )
