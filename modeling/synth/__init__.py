"""Synthetic training data and scenario clips for NCE's own street-violation detector.

Objects (stalls, goods, umbrellas, banners, A-frame ad boards, posters, garbage) are drawn
procedurally and composited onto real footage (OpenCV's sample data from Debian's ``opencv-doc``),
with exact YOLO labels; everything is deterministic by seed.
"""

from __future__ import annotations

from nce.vocabulary import MODEL_CLASSES

CLASSES: tuple[str, ...] = MODEL_CLASSES
"""Detector classes, in class-id order (ARCHITECTURE.md §2)."""

CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
