"""Write a model release folder (:mod:`nce.release`): ``model.onnx``, ``card.md`` and the signed
``release.json`` (the model's SHA-256 and size, its classes and input size as the model says them,
the card's SHA-256, the gate's outcome and numbers)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from detector.yolo import YoloDetector
from nce.hashing import sha256_file
from nce.manifest import ManifestError, key_fingerprint, load_private_key
from nce.release import (
    CARD_FILE,
    MODEL_FILE,
    RELEASE_FILE,
    ReleaseError,
    ReleaseGate,
    ReleaseRecord,
    SignedRelease,
    sign_release,
)
from nce.times import utc_ms


def model_facts(model: Path) -> tuple[list[str], tuple[int, int]]:
    """The model's class names (in index order) and input size ``(h, w)``, as the runtime reads them."""
    info = YoloDetector(model).info
    return [info.names[i] for i in sorted(info.names)], info.imgsz


def write_release(
    *,
    model: Path,
    card: Path,
    key_file: Path,
    out: Path,
    release_id: str | None = None,
    metrics: dict[str, float] | None = None,
    gate: ReleaseGate | None = None,
) -> SignedRelease:
    """Sign and write the release folder ``out`` (new or empty); returns what ``release.json`` holds."""
    try:
        key = load_private_key(key_file)
    except ManifestError as exc:
        raise ReleaseError(str(exc)) from None
    for p in (model, card):
        if not p.is_file():
            raise ReleaseError(f"{p}: no such file")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReleaseError(f"{out}: exists and is not an empty folder; refusing to overwrite a release")
    classes, imgsz = model_facts(model)
    digest = sha256_file(model)
    record = ReleaseRecord(
        release_id=release_id or f"{model.stem}-{digest[:12]}",
        model_sha256=digest,
        model_bytes=model.stat().st_size,
        classes=classes,
        input_size=imgsz,
        card_sha256=sha256_file(card),
        metrics=metrics or {},
        gate=gate,
        created_at=utc_ms(dt.datetime.now(dt.UTC)),
        key_fingerprint=key_fingerprint(key.public_key()),
    )
    signed = sign_release(record, key)
    try:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, out / MODEL_FILE)
        shutil.copyfile(card, out / CARD_FILE)
        tmp = out / f".{RELEASE_FILE}.part"
        tmp.write_text(signed.to_json(), encoding="utf-8")
        os.replace(tmp, out / RELEASE_FILE)
    except OSError as exc:
        raise ReleaseError(f"{out}: cannot write the release: {exc.strerror}") from None
    return signed
