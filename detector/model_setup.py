"""The site's model, set up from its config: which thresholds it reports down to, and whether the
pipeline may overlap it with the loop's own work."""

from __future__ import annotations

import os

from detector.config import SiteConfig
from detector.yolo import YoloDetector


def overlap_pays(detector: YoloDetector) -> bool:
    """Whether the model leaves the CPU room for the loop: it runs on an accelerator, or on fewer
    ONNX Runtime intra-op threads than the machine has cores."""
    if any(p != "CPUExecutionProvider" for p in detector.info.providers):
        return True
    threads = detector.intra_op_threads
    return 0 < threads < (os.cpu_count() or 1)


def detector_from_config(config: SiteConfig) -> YoloDetector:
    """The site's detector. With ``learning`` enabled it reports down to the lower ``low_conf``
    bound when that is below ``model.conf``; the pipeline then keeps those detections for the
    learning samples only (:func:`detector.learning.split_below`)."""
    m = config.model
    conf = min(m.conf, config.learning.low_conf[0]) if config.learning.enabled else m.conf
    return YoloDetector(
        m.path,
        providers=m.providers,
        conf=conf,
        iou=m.iou,
        allow_fallback=m.allow_fallback,
        intra_op_threads=m.intra_op_threads,
        inter_op_threads=m.inter_op_threads,
        rect=m.rect,
    )
