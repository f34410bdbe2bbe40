"""Real JPEG and PNG images for tests (made with Pillow): distinct per seed, small on disk."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw


def picture(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """A street-ish picture: a background and a few coloured blocks, all chosen by ``seed``."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), tuple(rng.randrange(40, 200) for _ in range(3)))  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    for _ in range(6 if width > 2 and height > 2 else 0):
        x1, y1 = rng.randrange(0, width - 2), rng.randrange(0, height - 2)
        x2, y2 = rng.randrange(x1 + 1, width), rng.randrange(y1 + 1, height)
        draw.rectangle((x1, y1, x2, y2), fill=tuple(rng.randrange(256) for _ in range(3)))  # type: ignore[arg-type]
    return image


def jpeg(width: int = 640, height: int = 480, seed: int = 0, **save: object) -> bytes:
    """JPEG bytes (``save``: Pillow's options, e.g. ``progressive=True``, ``exif=...``)."""
    out = io.BytesIO()
    picture(width, height, seed).save(out, "JPEG", quality=85, **save)
    return out.getvalue()


def png(width: int = 640, height: int = 480, seed: int = 0) -> bytes:
    out = io.BytesIO()
    picture(width, height, seed).save(out, "PNG")
    return out.getvalue()
