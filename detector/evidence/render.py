"""Stills: raw JPEG encoding, annotated copies (Chinese text with Pillow), crops.

OpenCV's ``putText`` cannot draw Chinese, so labels are drawn with Pillow and a CJK font found on
disk at run time (fonts-noto-cjk, fonts-wqy-microhei, …); nothing is downloaded. The raw still is
the decoded frame encoded once, never drawn on.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from detector.errors import EvidenceError

Image8 = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]

# the Debian packages' files first, then anything CJK-looking under the usual font folders
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
FONT_GLOBS: tuple[str, ...] = (
    "/usr/share/fonts/**/*CJK*.tt[cf]",
    "/usr/share/fonts/**/*CJK*.otf",
    "/usr/share/fonts/**/wqy*.tt[cf]",
    "/usr/local/share/fonts/**/*.tt[cf]",
)
_PROBE = "出店经营"

VIOLATION_ZH: dict[str, str] = {
    "out_of_shop_trading": "出店经营",
    "street_vending": "占道设摊",
    "piled_goods": "乱堆物料",
    "illegal_ad": "违规户外广告",
    "exposed_garbage": "暴露垃圾",
}
MOMENT_ZH: dict[str, str] = {
    "first_seen": "首次发现",
    "between": "持续中",
    "confirmed": "确认",
    "cleared": "已清除",
    "later": "后续",
}


def _renders_cjk(path: str) -> bool:
    try:
        font = ImageFont.truetype(path, size=24)
    except OSError:
        return False
    # a font without the glyphs draws the same .notdef box for every character
    masks = set()
    for ch in _PROBE:
        im = Image.new("L", (32, 32))
        ImageDraw.Draw(im).text((2, 0), ch, font=font, fill=255)
        masks.add(im.tobytes())
    return len(masks) == len(_PROBE) and all(any(m) for m in masks)


@functools.lru_cache(maxsize=4)
def find_cjk_font(preferred: str | None = None) -> str:
    """Path of a font that draws Chinese, found on disk. Raises :class:`EvidenceError` if none."""
    candidates = [preferred] if preferred else []
    candidates += list(FONT_CANDIDATES)
    for pattern in FONT_GLOBS:
        candidates += sorted(glob.glob(pattern, recursive=True))
    for path in candidates:
        if path and os.path.isfile(path) and _renders_cjk(path):
            return path
    if preferred:
        raise EvidenceError(f"evidence.font_file: {preferred} cannot draw Chinese (or does not exist)")
    raise EvidenceError(
        "no font that can draw Chinese was found on disk: install fonts-noto-cjk or fonts-wqy-microhei "
        "(apt-get install fonts-noto-cjk), or set evidence.font_file"
    )


@functools.lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size)


def encode_jpeg(image: Image8, quality: int) -> bytes:
    """BGR uint8 → JPEG bytes at ``quality`` (the raw stills use >= 90)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise EvidenceError(f"JPEG encoding failed for an image of shape {image.shape}")
    return bytes(buf.tobytes())


def crop_box(image: Image8, box: Box, margin: float = 0.15, min_side: int = 16) -> Image8:
    """The object's box widened by ``margin`` of its size on each side, clipped to the frame."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left = int(max(0, np.floor(x1 - mx)))
    top = int(max(0, np.floor(y1 - my)))
    right = int(min(w, np.ceil(x2 + mx)))
    bottom = int(min(h, np.ceil(y2 + my)))
    if right - left < min_side:
        left, right = max(0, min(left, w - min_side)), min(w, max(right, left + min_side))
    if bottom - top < min_side:
        top, bottom = max(0, min(top, h - min_side)), min(h, max(bottom, top + min_side))
    return np.ascontiguousarray(image[top:bottom, left:right])


@dataclass(frozen=True)
class Annotation:
    """What is burned into an annotated still."""

    camera: str
    time_text: str
    caption: str
    polygon01: Sequence[tuple[float, float]]
    box: Box | None
    label: str | None


def annotate(image: Image8, note: Annotation, font_path: str) -> Image8:
    """A copy of ``image`` with the zone polygon, the object's box and label, and a header with the
    camera name, local time and caption. Returns BGR uint8."""
    h, w = image.shape[:2]
    out = image.copy()
    # geometry with OpenCV (fast, anti-aliased), text with Pillow (CJK)
    thick = max(2, round(min(h, w) / 360))
    if len(note.polygon01) >= 3:
        pts = np.array([[x * w, y * h] for x, y in note.polygon01], dtype=np.float32).round().astype(np.int32)
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], True, (0, 215, 255), thick, cv2.LINE_AA)
    if note.box is not None:
        x1, y1, x2, y2 = (round(v) for v in note.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), thick + 1, cv2.LINE_AA)
    size = max(14, round(h / 28))
    font = _font(font_path, size)
    pil = Image.fromarray(out[:, :, ::-1])
    draw = ImageDraw.Draw(pil)
    header = f"{note.camera}  {note.time_text}  {note.caption}"
    pad = max(3, size // 5)
    tb = draw.textbbox((pad, pad), header, font=font)
    draw.rectangle((0, 0, min(w, tb[2] + pad), tb[3] + pad), fill=(0, 0, 0))
    draw.text((pad, pad), header, font=font, fill=(255, 255, 255))
    if note.box is not None and note.label:
        bx, by = float(note.box[0]), float(note.box[1])
        lb = draw.textbbox((0, 0), note.label, font=font)
        lw, lh = int(lb[2] - lb[0]) + 2 * pad, int(lb[3] - lb[1]) + 2 * pad
        lx = int(min(max(0.0, bx), max(0, w - lw)))
        ly = int(by - lh) if by - lh >= tb[3] + pad else int(min(by + 2, max(0, h - lh)))
        draw.rectangle((lx, ly, lx + lw, ly + lh), fill=(200, 0, 0))
        draw.text((lx + pad, ly + pad - lb[1]), note.label, font=font, fill=(255, 255, 255))
    return np.ascontiguousarray(np.asarray(pil)[:, :, ::-1])


def write_bytes_synced(path: Path, data: bytes) -> None:
    """Write a new file and fsync it (the package's files are durable before the manifest is)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
