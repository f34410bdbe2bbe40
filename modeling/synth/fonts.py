"""CJK fonts found on disk (never downloaded): Noto CJK, WenQuanYi and friends."""

from __future__ import annotations

import functools
import glob
import os
from dataclasses import dataclass

from PIL import ImageFont

from detector.errors import DataError

FONT_DIRS: tuple[str, ...] = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"))
_PATTERNS: tuple[str, ...] = ("*CJK*.tt[fc]", "*CJK*.otf", "wqy*.tt[fc]", "*Hei*.tt[fc]", "*Song*.tt[fc]")
_PROBE = "出店经营清仓"


@dataclass(frozen=True)
class CjkFont:
    """One face: a font file and the index of the face inside a collection (.ttc)."""

    path: str
    index: int = 0

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        return _load(self.path, self.index, max(6, int(size)))


@functools.lru_cache(maxsize=256)
def _load(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size, index=index)


def _renders_cjk(path: str, index: int) -> bool:
    try:
        font = ImageFont.truetype(path, size=24, index=index)
    except OSError:
        return False
    try:
        masks = [font.getmask(ch) for ch in _PROBE]
    except Exception:
        return False
    # a font without the glyphs renders the same notdef box for every character
    return len({bytes(m) for m in masks}) > 1 and all(m.size[0] > 4 for m in masks)


@functools.lru_cache(maxsize=4)
def find_cjk_fonts(dirs: tuple[str, ...] = FONT_DIRS) -> tuple[CjkFont, ...]:
    """Every face on disk that renders Chinese, sorted (deterministic); at most 2 faces per file.

    Raises:
        DataError: when no CJK font is installed.
    """
    paths: set[str] = set()
    for d in dirs:
        for pattern in _PATTERNS:
            paths.update(glob.glob(os.path.join(d, "**", pattern), recursive=True))
    fonts: list[CjkFont] = []
    for path in sorted(paths):
        faces = (0, 2) if path.endswith(".ttc") else (0,)
        for index in faces:
            if _renders_cjk(path, index):
                fonts.append(CjkFont(path, index))
    if not fonts:
        raise DataError(
            "no CJK font found under " + ", ".join(dirs) + " (install fonts-noto-cjk or fonts-wqy-microhei)"
        )
    return tuple(fonts)
