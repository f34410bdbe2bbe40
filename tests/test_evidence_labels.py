"""What the edge burns into an annotated still: Chinese class, violation and moment names drawn with a
CJK font found on disk (real glyphs, not the .notdef box), and English with Pillow's own font when no
such font is installed (never boxes, never a download)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from detector.config import Zone
from detector.errors import EvidenceError
from detector.events import Frame, HitEvent
from detector.evidence import render
from detector.evidence.render import CLASS_ZH, Annotation, annotate, find_cjk_font, find_label_font
from detector.evidence.stills import StillRenderer
from nce.vocabulary import MODEL_CLASSES
from service.console.messages import translate

T0 = dt.datetime(2026, 11, 26, 2, 0, 0, tzinfo=dt.UTC)
BOX = (120.0, 260.0, 330.0, 420.0)
ZONE = Zone.model_validate(
    {"id": "z-1", "kind": "shop_frontage", "polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95]]}
)
NOTDEF = "\U0010fffd\U0010fffe\U0010ffff"  # no font has these: each draws the .notdef box


def hit(label: str) -> HitEvent:
    return HitEvent(
        event="confirmed", hit_id="h1", site_id="sh-pd-01", camera_id="cam-01", zone_id="z-1",
        shop_id=None, violation="street_vending", track_id=7, label=label, score=0.9, box=BOX, ts=T0,
        first_seen=T0, last_seen=T0, dwell_s=0.0, sightings=1,
    )  # fmt: skip


def frame() -> Frame:
    return Frame("cam-01", 3, np.full((576, 768, 3), 90, np.uint8), T0, 0.0)


def label_patch(img: np.ndarray) -> np.ndarray:
    """The label drawn above the object's box (768×576: font 21 px, so about 30 px high)."""
    x1, y1 = int(BOX[0]), int(BOX[1])
    return img[y1 - 34 : y1, x1 : x1 + 260].astype(int)


def draw(label: str, font: str | None) -> np.ndarray:
    return annotate(frame().image, Annotation("cam", "", "", ZONE.polygon, BOX, label), font)


def test_every_class_is_burned_in_as_the_console_names_it() -> None:
    for name in MODEL_CLASSES:
        assert CLASS_ZH[name] == translate("zh-CN", f"class.{name}"), name


def test_the_label_names_class_violation_and_moment_in_chinese() -> None:
    renderer = StillRenderer({"cam-01": "友谊路 东口"}, ZoneInfo("Asia/Shanghai"), find_cjk_font(), 90)
    note = renderer.note("confirmed", frame(), BOX, hit("umbrella"), ZONE)
    assert note.label == "占道设摊 遮阳伞 0.90"
    assert note.camera == "友谊路 东口 (cam-01)" and note.caption == "占道设摊 · 确认"
    assert "umbrella" not in f"{note.label}{note.caption}"


def test_cjk_glyphs_are_drawn_not_notdef_boxes() -> None:
    font = find_cjk_font()
    umbrella, garbage, boxes = (label_patch(draw(t, font)) for t in ("遮阳伞", "垃圾桶", NOTDEF))
    # three characters each: a font without them draws three identical boxes for both labels
    assert np.abs(umbrella - garbage).sum() > 20_000
    assert np.abs(umbrella - boxes).sum() > 20_000
    assert (umbrella.max(axis=2) > 200).sum() > 100  # white strokes on the red label


def test_the_still_shows_chinese_labels_end_to_end() -> None:
    renderer = StillRenderer({"cam-01": "友谊路 东口"}, ZoneInfo("Asia/Shanghai"), find_cjk_font(), 90)
    _still, files = renderer.still(2, "confirmed", frame(), BOX, hit("umbrella"), ZONE)
    annotated = next(f for f in files if f.role == "still_annotated")
    img = cv2.imdecode(np.frombuffer(annotated.data, np.uint8), cv2.IMREAD_COLOR)
    same, other = (
        annotate(frame().image, renderer.note("confirmed", frame(), BOX, hit(c), ZONE), renderer.font)
        for c in ("umbrella", "garbage")
    )
    # the JPEG is the Chinese drawing (give or take compression), not the other class's words
    near, far = (np.abs(label_patch(img) - label_patch(x)).mean() for x in (same, other))
    assert near < far / 2, (near, far)


def test_without_a_cjk_font_the_labels_are_english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "FONT_CANDIDATES", ())
    monkeypatch.setattr(render, "FONT_GLOBS", ())
    find_cjk_font.cache_clear()
    try:
        assert find_label_font() is None
    finally:
        find_cjk_font.cache_clear()
    renderer = StillRenderer({"cam-01": "友谊路 东口"}, ZoneInfo("Asia/Shanghai"), None, 90)
    note = renderer.note("first_seen", frame(), BOX, hit("ad_board"), ZONE)
    assert note.label == "street vending ad board 0.90" and note.camera == "cam-01"
    assert note.caption.isascii() and note.label.isascii()
    img = annotate(frame().image, note, None)
    assert (label_patch(img).max(axis=2) > 200).sum() > 50  # Pillow's own font drew the words


@pytest.mark.parametrize("preferred", ["/nonexistent/font.ttc", __file__])
def test_a_configured_font_that_cannot_draw_chinese_is_an_error_not_english(
    preferred: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "FONT_CANDIDATES", ())
    monkeypatch.setattr(render, "FONT_GLOBS", ())
    find_cjk_font.cache_clear()
    try:
        with pytest.raises(EvidenceError, match="cannot draw Chinese"):
            find_label_font(preferred)
    finally:
        find_cjk_font.cache_clear()
