"""Stills: raw JPEG encoding, annotated copies (Chinese text with Pillow), crops.

OpenCV's ``putText`` cannot draw Chinese, so labels are drawn with Pillow and a CJK font found on
disk at run time (fonts-noto-cjk, fonts-wqy-microhei, …); nothing is downloaded. Without one
(:func:`find_label_font` returns None, with a warning) the labels are burned in English with
Pillow's own font, never as boxes. The raw still is the decoded frame encoded once, never drawn on.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

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
log = logging.getLogger(__name__)

VIOLATION_ZH: dict[str, str] = {
    "out_of_shop_trading": "出店经营",
    "street_vending": "占道设摊",
    "piled_goods": "乱堆物料",
    "illegal_ad": "违规户外广告",
    "exposed_garbage": "暴露垃圾",
}
# the detector's classes (nce.vocabulary.MODEL_CLASSES, plus ``person``), as the console names them
CLASS_ZH: dict[str, str] = {
    "stall": "摊位",
    "goods": "货物",
    "umbrella": "遮阳伞",
    "banner": "横幅",
    "ad_board": "广告牌",
    "poster": "张贴广告",
    "garbage": "垃圾",
    "person": "行人",
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


def find_label_font(preferred: str | None = None) -> str | None:
    """:func:`find_cjk_font`, or None (with a warning) when no font on disk draws Chinese: the stills
    are then labelled in English. A ``preferred`` file that cannot draw Chinese is still an error."""
    try:
        return find_cjk_font(preferred)
    except EvidenceError:
        if preferred:
            raise
        log.warning("no CJK font on disk (apt-get install fonts-noto-cjk): stills are labelled in English")
        return None


@functools.lru_cache(maxsize=32)
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    if path is None:  # Pillow's own font (Latin only), scalable since Pillow 10.1
        default = ImageFont.load_default(size=size)
        if not isinstance(default, ImageFont.FreeTypeFont):
            raise EvidenceError("Pillow was built without FreeType: cannot label stills")
        return default
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


def _text(
    out: Image8,
    xy: tuple[int, int],
    text: str,
    font: ImageFont.FreeTypeFont,
    bg: tuple[int, int, int],
    pad: int,
) -> tuple[int, int, int, int]:
    """Draw ``text`` (white, on a ``bg`` box, BGR) with its top-left at ``xy``, in place; only the
    text's own patch goes through Pillow. Returns the box drawn (x1, y1, x2, y2)."""
    h, w = out.shape[:2]
    left, top, right, bottom = font.getbbox(text)
    tw, th = int(right - left), int(bottom - top)
    x1, y1 = max(0, xy[0]), max(0, xy[1])
    x2, y2 = min(w, x1 + tw + 2 * pad), min(h, y1 + th + 2 * pad)
    if x2 <= x1 or y2 <= y1:
        return (x1, y1, x1, y1)
    mask = Image.new("L", (x2 - x1, y2 - y1), 0)
    ImageDraw.Draw(mask).text((pad - left, pad - top), text, font=font, fill=255)
    alpha = np.asarray(mask, dtype=np.float32)[:, :, None] / 255.0
    patch = np.empty((y2 - y1, x2 - x1, 3), np.float32)
    patch[:] = bg
    out[y1:y2, x1:x2] = (patch * (1.0 - alpha) + 255.0 * alpha).astype(np.uint8)
    return (x1, y1, x2, y2)


def annotate(image: Image8, note: Annotation, font_path: str | None) -> Image8:
    """A copy of ``image`` with the zone polygon, the object's box and label, and a header with the
    camera name, local time and caption. Returns BGR uint8. ``font_path`` None: Pillow's own font,
    for a note worded in English.

    Shapes are drawn with OpenCV; text with Pillow (CJK) on small patches only, so a 1080p frame is
    never converted whole."""
    h, w = image.shape[:2]
    out = image.copy()
    thick = max(2, round(min(h, w) / 360))
    if len(note.polygon01) >= 3:
        pts = np.array([[x * w, y * h] for x, y in note.polygon01], dtype=np.float32).round().astype(np.int32)
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], True, (0, 215, 255), thick, cv2.LINE_AA)
    if note.box is not None:
        x1, y1, x2, y2 = (round(v) for v in note.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), thick + 1, cv2.LINE_AA)
    size = max(14, round(h / 28))
    font = _font(font_path, size)
    pad = max(3, size // 5)
    header = f"{note.camera}  {note.time_text}  {note.caption}"
    hb = _text(out, (0, 0), header, font, (0, 0, 0), pad)
    if note.box is not None and note.label:
        bx, by = float(note.box[0]), float(note.box[1])
        left, top, right, bottom = font.getbbox(note.label)
        lw, lh = int(right - left) + 2 * pad, int(bottom - top) + 2 * pad
        lx = int(min(max(0.0, bx), max(0, w - lw)))
        ly = int(by - lh) if by - lh >= hb[3] else int(min(by + 2, max(0, h - lh)))
        _text(out, (lx, ly), note.label, font, (0, 0, 200), pad)
    return out
