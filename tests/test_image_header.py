"""The service reads an image's type and size from its header (no decoding library on its side):
checked against real JPEGs and PNGs made by Pillow, and against damaged and foreign bytes."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from service.errors import Invalid, UnsupportedMedia
from service.image_header import image_info
from tests.support.images import jpeg, picture, png


def _exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "NCE camera " * 500  # a large APP1 segment before the frame header
    return jpeg(1920, 1080, 3, exif=exif.tobytes())


def _cmyk_jpeg() -> bytes:
    out = io.BytesIO()
    picture(33, 17, 4).convert("CMYK").save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (jpeg(640, 480, 1), ("image/jpeg", 640, 480, ".jpg")),
        (jpeg(1920, 1080, 2, progressive=True), ("image/jpeg", 1920, 1080, ".jpg")),
        (_exif_jpeg(), ("image/jpeg", 1920, 1080, ".jpg")),
        (_cmyk_jpeg(), ("image/jpeg", 33, 17, ".jpg")),
        (jpeg(1, 1, 5), ("image/jpeg", 1, 1, ".jpg")),
        (png(800, 600, 6), ("image/png", 800, 600, ".png")),
    ],
    ids=["baseline", "progressive", "exif-first", "cmyk", "1x1", "png"],
)
def test_real_images_give_their_type_and_size(data: bytes, expected: tuple[str, int, int, str]) -> None:
    info = image_info(data)
    assert (info.mime, info.width, info.height, info.ext) == expected


JPEG = jpeg(64, 48, 7)
PNG = png(64, 48, 8)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"GIF89a\x01\x00\x01\x00", UnsupportedMedia, "not a JPEG or PNG"),
        (b"", UnsupportedMedia, "not a JPEG or PNG"),
        (b"\xff\xd8\xff\xe0" + b"a" * 200, Invalid, "without a frame header"),
        (b"\xff\xd8\xff\xe0\x00\x04abxx", Invalid, "damaged segment at byte 8"),
        (JPEG[:20], Invalid, "without a frame header"),
        (b"\xff\xd8\xff\xda\x00\x08", Invalid, "without a frame header"),
        (PNG[:20], Invalid, "without its IHDR"),
        (PNG[:12] + b"IDAT" + PNG[16:], Invalid, "without its IHDR"),
        (PNG[:16] + b"\x00\x00\x00\x00" + PNG[20:], Invalid, "0x48 pixels"),
        (PNG[:16] + (20000).to_bytes(4, "big") + PNG[20:], Invalid, "20000x48 pixels"),
    ],
    ids=[
        "gif",
        "empty",
        "jpeg-garbage",
        "jpeg-bad-segment",
        "jpeg-truncated",
        "jpeg-sos-first",
        "png-truncated",
        "png-no-ihdr",
        "png-zero-width",
        "png-huge",
    ],
)
def test_other_or_damaged_bytes_are_refused(data: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        image_info(data, name="image")
