"""What a JPEG or PNG image is, read from its header: type (by magic bytes) and pixel size.

The service stores frames for labelling and must know their width and height, but it never decodes
images (no numpy, OpenCV or Pillow on the service side): a PNG's size is in its ``IHDR`` chunk, a
JPEG's in its start-of-frame (``SOF``) segment, found by walking the segments from the start.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from service.errors import Invalid, UnsupportedMedia

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
MAX_SIDE = 16384  # pixels: larger "frames" are not camera frames
# start-of-frame markers (baseline, extended, progressive, lossless, arithmetic); not C4 (DHT),
# C8 (JPG extension) or CC (DAC), which share the range
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn: markers without a segment


@dataclass(frozen=True)
class ImageInfo:
    mime: str  # image/jpeg or image/png
    width: int
    height: int

    @property
    def ext(self) -> str:
        return ".png" if self.mime == "image/png" else ".jpg"


def image_info(data: bytes, *, name: str = "image") -> ImageInfo:
    """The type and size of a JPEG or PNG image.

    Raises :class:`UnsupportedMedia` (415) for anything else and :class:`Invalid` (422) for a JPEG or
    PNG whose header is broken or whose size is not that of a frame.
    """
    if data.startswith(PNG_MAGIC):
        width, height = _png_size(data, name)
        mime = "image/png"
    elif data.startswith(JPEG_MAGIC):
        width, height = _jpeg_size(data, name)
        mime = "image/jpeg"
    else:
        raise UnsupportedMedia(f"{name}: not a JPEG or PNG image (by its first bytes)")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise Invalid(f"{name}: {width}x{height} pixels; a frame is 1..{MAX_SIDE} pixels on each side")
    return ImageInfo(mime, width, height)


def _png_size(data: bytes, name: str) -> tuple[int, int]:
    # signature (8), then the first chunk: length (4), type (4) = IHDR, width (4), height (4)
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise Invalid(f"{name}: a PNG without its IHDR header (truncated or damaged)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg_size(data: bytes, name: str) -> tuple[int, int]:
    pos = 2  # after SOI
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise Invalid(f"{name}: a JPEG with a damaged segment at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in _NO_LENGTH:
            continue
        if marker in (0xD9, 0xDA):  # EOI, or SOS (the image data) before any SOF
            break
        if pos + 2 > n:
            break
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise Invalid(f"{name}: a JPEG with a damaged segment at byte {pos}")
        if marker in _SOF:
            if pos + 7 > n:
                break
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            if height == 0:
                raise Invalid(f"{name}: a JPEG whose height is defined later (DNL); not supported")
            return int(width), int(height)
        pos += length
    raise Invalid(f"{name}: a JPEG without a frame header (truncated or damaged)")
