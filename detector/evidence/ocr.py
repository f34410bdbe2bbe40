"""Ad text (extra ``ocr``): the text in an ``illegal_ad`` crop and the phone numbers in it.

The extra installs ``rapidocr`` (3.x), which ships its PP-OCR ONNX models inside the wheel, runs
on the base onnxruntime and depends on opencv-python-headless (the older ``rapidocr-onnxruntime``
pulls in the GUI opencv-python, which overwrites the headless ``cv2``). It is used only when its
bundled models are present, so nothing is downloaded at run time; ``rapidocr-onnxruntime`` is
still accepted when it is what is installed. Imported lazily; without the extra the manifest gets
a note instead of text.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nce.bounds import LONG_TEXT_MAX, clean_text
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


_NOT_INSTALLED = "OCR not run: the ocr extra is not installed (pip install 'nce[ocr]')"

_Run = Callable[[npt.NDArray[np.uint8]], list[tuple[Any, str, float]]]


@functools.lru_cache(maxsize=1)
def _engine() -> tuple[_Run | None, str | None, str | None]:
    """(BGR image -> [(box, text, score)], engine name, note); the callable is None if OCR can't run."""
    try:
        from rapidocr import RapidOCR
    except ImportError:
        return _legacy_engine()
    import rapidocr

    name = f"rapidocr {_version('rapidocr')}"
    models = Path(rapidocr.__file__).parent / "models"
    # rapidocr downloads a default model that is missing: run only on the models in its wheel
    missing = [kind for kind in ("det", "cls", "rec") if not any(models.glob(f"*{kind}*.onnx"))]
    if missing:
        return None, name, f"OCR not run: rapidocr has no bundled {'/'.join(missing)} model"
    try:
        engine = RapidOCR(params={"Global.log_level": "warning"})
    except Exception as exc:
        log.warning("OCR engine failed to start: %s", exc)
        return None, name, f"OCR not run: {exc}"[:300]

    def run(image: npt.NDArray[np.uint8]) -> list[tuple[Any, str, float]]:
        out: Any = engine(image)  # RapidOCROutput with det+cls+rec on
        if out.boxes is None or out.txts is None or out.scores is None:
            return []
        return list(zip(out.boxes, out.txts, out.scores, strict=True))

    return run, name, None


def _legacy_engine() -> tuple[_Run | None, str | None, str | None]:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None, None, _NOT_INSTALLED
    name = f"rapidocr-onnxruntime {_version('rapidocr-onnxruntime')}"
    try:
        engine = RapidOCR()
    except Exception as exc:
        log.warning("OCR engine failed to start: %s", exc)
        return None, name, f"OCR not run: {exc}"[:300]

    def run(image: npt.NDArray[np.uint8]) -> list[tuple[Any, str, float]]:
        result, _elapsed = engine(image)
        return [(item[0], item[1], item[2]) for item in result or []]

    return run, name, None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def read_text(image: npt.NDArray[np.uint8]) -> OcrResult:
    """OCR of a BGR crop; never raises (a failure becomes the result's note)."""
    ocr, name, note = _engine()
    if ocr is None:
        return OcrResult(engine=None, lines=[], text="", phones=[], note=note)
    try:
        result = ocr(image)
    except Exception as exc:  # a third-party failure must not lose the package
        log.warning("OCR failed: %s", exc)
        return OcrResult(
            engine=name, lines=[], text="", phones=[], note=clean_text(f"OCR failed: {exc}", 300)
        )
    lines = []
    for box, raw_text, raw_score in result:
        # what the engine says goes into a signed contract: one line of text, finite numbers
        text, score = clean_text(str(raw_text), 500), _finite(float(raw_score))
        points = [(round(_finite(float(x)), 1), round(_finite(float(y)), 1)) for x, y in box]
        lines.append(OcrLine(text=text, score=round(score, 4), box=points))
        if sum(len(line.text) + 1 for line in lines) > LONG_TEXT_MAX:
            lines.pop()
            break
    joined = "\n".join(line.text for line in lines)
    return OcrResult(engine=name, lines=lines, text=joined, phones=find_phones(joined), note=None)
