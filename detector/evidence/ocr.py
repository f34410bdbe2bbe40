"""Ad text (extra ``ocr``): the text in an ``illegal_ad`` crop and the phone numbers in it.

rapidocr-onnxruntime ships the PP-OCR ONNX models inside its wheel, so it runs offline. It is
imported lazily; without the extra the manifest gets a note instead of text.
"""

from __future__ import annotations

import functools
import logging
import re
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from nce.manifest import OcrLine, OcrResult

log = logging.getLogger(__name__)

# mainland mobile numbers (1[3-9]x, 11 digits, optional +86), landlines (0 + 2-3 digit area code,
# 7-8 digits, optional dash or space) and 400/800 service numbers; separators inside are allowed
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[-\s]?)?(1[3-9]\d(?:[-\s]?\d{4}){2})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[-\s]?(\d{7,8})(?!\d)")
_SERVICE = re.compile(r"(?<!\d)([48]00[-\s]?\d{3}[-\s]?\d{4})(?!\d)")
_FULLWIDTH = str.maketrans("０１２３４５６７８９－＋　", "0123456789-+ ")


def find_phones(text: str) -> list[str]:
    """Phone numbers in ``text`` (digits only, landlines as ``area-number``), in order, unique."""
    t = text.translate(_FULLWIDTH)
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []

    def free(span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in taken)

    for m in _MOBILE.finditer(t):
        found.append((m.start(), re.sub(r"\D", "", m.group(1))))
        taken.append(m.span())
    for m in _SERVICE.finditer(t):
        if free(m.span()):
            found.append((m.start(), re.sub(r"\D", "", m.group(1))))
            taken.append(m.span())
    for m in _LANDLINE.finditer(t):
        if free(m.span()):
            found.append((m.start(), f"{m.group(1)}-{m.group(2)}"))
            taken.append(m.span())
    out: list[str] = []
    for _, number in sorted(found):
        if number not in out:
            out.append(number)
    return out


@functools.lru_cache(maxsize=1)
def _engine() -> tuple[Any, str] | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    try:
        version = metadata.version("rapidocr-onnxruntime")
    except metadata.PackageNotFoundError:
        version = "?"
    return RapidOCR(), f"rapidocr-onnxruntime {version}"


def read_text(image: npt.NDArray[np.uint8]) -> OcrResult:
    """OCR of a BGR crop; never raises (a failure becomes the result's note)."""
    engine = _engine()
    if engine is None:
        return OcrResult(
            engine=None,
            lines=[],
            text="",
            phones=[],
            note="OCR not run: the ocr extra is not installed (pip install 'nce[ocr]')",
        )
    ocr, name = engine
    try:
        result, _elapsed = ocr(image)
    except Exception as exc:  # a third-party failure must not lose the package
        log.warning("OCR failed: %s", exc)
        return OcrResult(engine=name, lines=[], text="", phones=[], note=f"OCR failed: {exc}"[:300])
    lines = []
    for item in result or []:
        box, text, score = item[0], str(item[1]), float(item[2])
        points = [(round(float(x), 1), round(float(y), 1)) for x, y in box]
        lines.append(OcrLine(text=text, score=round(score, 4), box=points))
    joined = "\n".join(line.text for line in lines)
    return OcrResult(engine=name, lines=lines, text=joined, phones=find_phones(joined), note=None)
