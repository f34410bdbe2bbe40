"""Zone set-up: one frame from a camera (``nce camera snapshot``) and the site config drawn on it
(``nce config preview``): every zone (kind, shop, exemptions) and every mask, each with its id, so
that an installer sees where the polygons fall before the first run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detector.config.camera import Camera
from detector.config.paths import is_stream
from detector.config.zones import Zone
from detector.errors import DetectorError
from detector.evidence.render import Image8, _font, _text, find_cjk_font
from detector.sources import redact

ZONE_COLOURS: dict[str, tuple[int, int, int]] = {  # BGR
    "shop_frontage": (0, 215, 255),
    "sidewalk": (255, 200, 0),
    "road": (200, 200, 200),
    "no_ads": (255, 0, 255),
}
MASK_COLOUR = (60, 60, 60)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def grab_frame(source: str, timeout_s: float = 15.0) -> Image8:
    """The first frame a camera source gives (a stream, a video file or an image file), BGR; a
    grayscale source comes back as three equal channels."""
    if not is_stream(source) and not Path(source).is_file():
        raise DetectorError(f"no such file {source}")
    if not is_stream(source) and Path(source).suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(source, cv2.IMREAD_COLOR)
        if image is None:
            raise DetectorError(f"{source}: not an image OpenCV can read")
        return np.asarray(image, dtype=np.uint8)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout_s * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC,
              int(timeout_s * 1000)]  # fmt: skip
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    try:
        if not cap.isOpened():
            kind = "stream" if is_stream(source) else "video file"
            raise DetectorError(f"cannot open {kind} {redact(source)}")
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None or frame.size == 0:
        raise DetectorError(f"{redact(source)}: opened, but no frame came within {timeout_s:g} s")
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return np.asarray(frame, dtype=np.uint8)


def write_png(image: Image8, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise DetectorError(f"PNG encoding failed for an image of shape {image.shape}")
    out.write_bytes(buf.tobytes())


def _points(polygon: list[tuple[float, float]], w: int, h: int) -> np.ndarray:
    return np.array([[x * w, y * h] for x, y in polygon], dtype=np.float32).round().astype(np.int32)


def zone_label(zone: Zone) -> str:
    """``z-1 shop_frontage S-0001 外摆 18:00-22:00 sat,sun`` for a zone (``id kind [shop] [exemptions]``)."""
    parts = [zone.id, zone.kind] + ([zone.shop_id] if zone.shop_id else [])
    for ex in zone.exemptions:
        days = "" if len(ex.days) == 7 else " " + ",".join(ex.days)
        parts.append(f"外摆 {ex.start:%H:%M}-{ex.end:%H:%M}{days}")
    return " ".join(parts)


def draw_preview(image: Image8, camera: Camera, font_file: Path | None = None) -> Image8:
    """A copy of ``image`` with the camera's masks (grey, hatched) and zones (by kind), each labelled
    with its id; a header names the camera."""
    h, w = image.shape[:2]
    out = image.copy()
    thick = max(2, round(min(h, w) / 360))
    size = max(14, round(h / 36))
    font = _font(find_cjk_font(str(font_file) if font_file else None), size)
    pad = max(3, size // 5)
    labels: list[tuple[tuple[int, int], str, tuple[int, int, int]]] = []
    for i, mask in enumerate(camera.masks):
        pts = _points(mask.polygon, w, h)
        shade = out.copy()
        cv2.fillPoly(shade, [pts.reshape(-1, 1, 2)], MASK_COLOUR)
        out = cv2.addWeighted(shade, 0.45, out, 0.55, 0)
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], True, MASK_COLOUR, thick, cv2.LINE_AA)
        labels.append(((int(pts[:, 0].min()), int(pts[:, 1].min())), f"mask {i}: {'/'.join(mask.classes)}",
                       MASK_COLOUR))  # fmt: skip
    for zone in camera.zones:
        colour = ZONE_COLOURS.get(zone.kind, (0, 255, 0))
        pts = _points(zone.polygon, w, h)
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], True, colour, thick, cv2.LINE_AA)
        dark = tuple(int(c * 0.6) for c in colour)
        labels.append(
            ((int(pts[:, 0].min()), int(pts[:, 1].min())), zone_label(zone), (dark[0], dark[1], dark[2]))
        )
    header = _text(out, (0, 0), f"{camera.id} {camera.name}  {w}x{h}", font, (0, 0, 0), pad)
    for (x, y), text, bg in labels:
        _text(out, (x, max(y, header[3])), text, font, bg, pad)
    return out
