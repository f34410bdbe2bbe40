"""The site's model, set up from its config: which thresholds it reports down to, and whether the
pipeline may overlap it with the loop's own work."""

from __future__ import annotations

import os
from pathlib import Path

from detector.config import SiteConfig
from detector.errors import ModelError
from detector.yolo import YoloDetector
from nce.release import MODEL_FILE, ReleaseError, ReleaseRecord, load_release_pubkey, verify_release


def overlap_pays(detector: YoloDetector) -> bool:
    """Whether the model leaves the CPU room for the loop: it runs on an accelerator, or on fewer
    ONNX Runtime intra-op threads than the machine has cores."""
    if any(p != "CPUExecutionProvider" for p in detector.info.providers):
        return True
    threads = detector.intra_op_threads
    return 0 < threads < (os.cpu_count() or 1)


def release_model(config: SiteConfig) -> tuple[Path, ReleaseRecord | None]:
    """The model file to run and, with ``model.release_pubkey``, the release it is from: then
    ``model.path`` is a release folder, verified against that key (the signature, then ``model.onnx``
    and ``card.md`` against the signed hashes). A release that does not verify is a
    :class:`ModelError` naming it (exit 2, one line)."""
    m = config.model
    if m.release_pubkey is None:
        return m.path, None
    try:
        record = verify_release(m.path, load_release_pubkey(m.release_pubkey))
    except ReleaseError as exc:
        raise ModelError(f"model.path {m.path}: refused: {exc}") from None
    return m.path / MODEL_FILE, record


def check_release_model(detector: YoloDetector, record: ReleaseRecord | None) -> None:
    """The file the detector loaded is still the signed one (it may have changed since the check)."""
    if record is not None and detector.info.sha256 != record.model_sha256:
        raise ModelError(
            f"model.path: refused: release {record.release_id}: the loaded model's sha256 "
            f"{detector.info.sha256[:16]}… differs from the signed {record.model_sha256[:16]}…"
        )


def detector_from_config(config: SiteConfig) -> YoloDetector:
    """The site's detector. With ``learning`` enabled it reports down to the lower ``low_conf``
    bound when that is below ``model.conf``; the pipeline then keeps those detections for the
    learning samples only (:func:`detector.learning.split_below`). With ``model.release_pubkey``
    it runs only the release's verified model (:func:`release_model`)."""
    m = config.model
    path, record = release_model(config)
    conf = min(m.conf, config.learning.low_conf[0]) if config.learning.enabled else m.conf
    detector = YoloDetector(
        path,
        providers=m.ort_providers(),
        conf=conf,
        iou=m.iou,
        allow_fallback=m.allow_fallback,
        intra_op_threads=m.intra_op_threads,
        inter_op_threads=m.inter_op_threads,
        rect=m.rect,
    )
    check_release_model(detector, record)
    return detector
