"""Procedural drawings of the detector classes, as sprites (BGR + alpha) of a requested size.

Each ``draw_*`` function returns a :class:`Sprite` whose alpha is exactly the object's pixels, so the
label is the bounding box of the (visible) alpha after warping and compositing. Sizes are in pixels;
the caller (``compose``) chooses them from the ground model. Everything is drawn at 2x and
downsampled once, for anti-aliased edges (:mod:`modeling.synth.canvas`).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from modeling.synth.canvas import (
    BRIGHT,
    CARDBOARD,
    DARK,
    PHRASES,
    WOOD,
    Canvas,
    Sprite,
    pick_color,
    shaded,
    text_color,
    text_patch,
)
from modeling.synth.fonts import CjkFont


def _goods_on(c: Canvas, rng: np.random.Generator, x0: float, x1: float, ybase: float, top: float) -> None:
    """Small goods (fruit piles, boxes, bottles) standing on a surface at ``ybase``."""
    x = x0
    while x < x1 - 0.04:
        w = float(rng.uniform(0.06, 0.2))
        w = min(w, x1 - x)
        kind = rng.integers(3)
        col = pick_color(rng, BRIGHT, 40)
        h = float(rng.uniform(0.3, 1.0)) * (ybase - top)
        if kind == 0:  # fruit pile: many small circles
            for _ in range(int(rng.integers(4, 10))):
                cx = x + float(rng.uniform(0.15, 0.85)) * w
                cy = ybase - float(rng.uniform(0.05, 0.7)) * h
                r = w * float(rng.uniform(0.12, 0.25))
                c.ellipse(cx, cy, r, r * c.w / c.h, shaded(col, float(rng.uniform(0.7, 1.2))))
        elif kind == 1:  # box
            c.rect(x, ybase - h, x + w * 0.9, ybase, col)
            c.rect(x, ybase - h, x + w * 0.9, ybase - h * 0.85, shaded(col, 1.3))
        else:  # bottles
            n = int(rng.integers(2, 5))
            for k in range(n):
                bx = x + w * (k + 0.5) / n
                c.rect(bx - w / (3 * n), ybase - h, bx + w / (3 * n), ybase, col)
        x += w + float(rng.uniform(0.0, 0.03))


def draw_stall(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """A vendor's stall: table or cart with a cloth, legs or wheels, goods on top, sometimes a price sign."""
    w = int(h * rng.uniform(1.2, 2.2))
    c = Canvas(w, h)
    top_y = float(rng.uniform(0.35, 0.55))  # table surface height (fraction from top)
    cloth = pick_color(rng, BRIGHT + WOOD, 30)
    depth = float(rng.uniform(0.06, 0.14))
    variant = rng.integers(3)
    # table top seen from above (a thin parallelogram)
    c.poly([(0.04, top_y), (0.96, top_y), (1.0, top_y + depth), (0.0, top_y + depth)], shaded(cloth, 1.2))
    if variant == 0:  # table with cloth to the ground
        c.poly([(0.0, top_y + depth), (1.0, top_y + depth), (0.98, 1.0), (0.02, 1.0)], cloth)
        for _ in range(int(rng.integers(0, 4))):
            xx = float(rng.uniform(0.05, 0.95))
            c.line((xx, top_y + depth), (xx, 1.0), shaded(cloth, 0.8), 0.01)
    elif variant == 1:  # table on legs
        c.rect(0.0, top_y + depth, 1.0, top_y + depth + 0.08, shaded(cloth, 0.8))
        leg = pick_color(rng, WOOD + DARK, 10)
        for xx in (0.04, 0.94):
            c.rect(xx, top_y + depth, xx + 0.03, 1.0, leg)
        if rng.random() < 0.5:
            c.rect(0.05, 0.75, 0.95, 0.8, leg)
    else:  # tricycle cart: flatbed box and wheels
        body = pick_color(rng, BRIGHT + WOOD, 20)
        c.rect(0.0, top_y + depth, 0.85, 0.78, body)
        wheel = pick_color(rng, DARK, 10)
        for cx in (0.15, 0.7):
            c.ellipse(cx, 0.86, 0.09, 0.14 * c.w / c.h * 0.5 + 0.06, wheel)
        c.line((0.85, top_y + depth), (1.0, 0.55), wheel, 0.02)
    _goods_on(c, rng, 0.05, 0.95, top_y + depth * 0.5, float(rng.uniform(0.0, 0.2)))
    if rng.random() < 0.5:
        col = pick_color(rng, BRIGHT, 20)
        tp = text_patch(rng, fonts, PHRASES[int(rng.integers(len(PHRASES)))][:4], text_color(rng, col), col)
        y1 = top_y + depth + 0.02
        c.paint(0.25, y1, 0.75, min(0.98, y1 + 0.5 * 0.5 * tp.shape[0] / tp.shape[1] * w / h * 2), tp)
    return c.sprite()


def draw_goods(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """Goods piled outside: cardboard boxes, plastic crates or sacks, stacked."""
    w = int(h * rng.uniform(0.8, 2.0))
    c = Canvas(w, h)
    kind = rng.integers(3)
    cols = int(rng.integers(1, 4))
    cw = 1.0 / cols
    for i in range(cols):
        n = int(rng.integers(1, 4))
        y = 1.0
        bh = 1.0 / max(n, 1)
        colh = float(rng.uniform(0.6, 1.0)) if i else 1.0
        for _ in range(n):
            hh = bh * colh * float(rng.uniform(0.85, 1.0))
            x0 = i * cw + float(rng.uniform(0, 0.03))
            x1 = (i + 1) * cw - float(rng.uniform(0, 0.03))
            if kind == 0:  # cardboard box, tape, top face
                col = pick_color(rng, CARDBOARD, 15)
                c.rect(x0, y - hh, x1, y, col)
                c.rect(x0, y - hh, x1, y - hh * 0.85, shaded(col, 1.15))
                c.rect((x0 + x1) / 2 - 0.01, y - hh, (x0 + x1) / 2 + 0.01, y - hh * 0.5, shaded(col, 1.35))
                if rng.random() < 0.3:
                    tp = text_patch(
                        rng, fonts, PHRASES[int(rng.integers(len(PHRASES)))][:3], (30, 30, 30), col, 32
                    )
                    c.paint(x0 + 0.1 * cw, y - hh * 0.6, x1 - 0.1 * cw, y - hh * 0.3, tp)
            elif kind == 1:  # plastic crate with holes
                col = pick_color(rng, BRIGHT, 25)
                c.rect(x0, y - hh, x1, y, col)
                hole = shaded(col, 0.5)
                for gx in np.linspace(x0 + 0.03, x1 - 0.06, 4):
                    for gy in np.linspace(y - hh + 0.05 * hh * 3, y - 0.1 * hh, 3):
                        c.rect(float(gx), float(gy), float(gx) + 0.03, float(gy) + 0.05 * hh * 2, hole)
            else:  # sacks
                col = pick_color(rng, ((170, 200, 215), (200, 200, 200), (120, 160, 200), (90, 170, 110)), 15)
                c.ellipse((x0 + x1) / 2, y - hh / 2, (x1 - x0) / 2, hh / 2, col)
            y -= hh
    return c.sprite()


def draw_umbrella(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """A street parasol: striped canopy, scalloped edge, pole and base."""
    w = int(h * rng.uniform(0.9, 1.4))
    c = Canvas(w, h)
    ca = pick_color(rng, BRIGHT, 25)
    cb = pick_color(rng, ((235, 235, 235), (40, 40, 200), (40, 200, 240), (200, 120, 30)), 15)
    striped = rng.random() < 0.7
    dome_h = float(rng.uniform(0.18, 0.32))
    edge_y = 0.05 + dome_h
    n = int(rng.integers(4, 9))
    pole = pick_color(rng, ((200, 200, 200), (60, 60, 60), (50, 90, 130)), 10)
    c.rect(0.485, edge_y, 0.515, 0.97, pole)
    c.ellipse(0.5, 0.97, 0.12, 0.03, pick_color(rng, DARK, 10))
    for i in range(n):
        xa, xb = i / n, (i + 1) / n
        col = (ca if i % 2 == 0 else cb) if striped else shaded(ca, 0.85 + 0.3 * (i % 2))
        c.poly([(0.5, 0.02), (0.02 + 0.96 * xa, edge_y), (0.02 + 0.96 * xb, edge_y)], col)
        c.ellipse(0.02 + 0.96 * (xa + xb) / 2, edge_y, 0.48 / n, 0.035, col, 0, 180)
    if rng.random() < 0.35:
        tp = text_patch(rng, fonts, PHRASES[int(rng.integers(len(PHRASES)))][:4], (240, 240, 240), ca, 40)
        c.paint(0.3, edge_y - dome_h * 0.35, 0.7, edge_y - dome_h * 0.05, tp)
    return c.sprite()


def draw_banner(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """A cloth banner (横幅) with a slogan, slightly wavy; ``h`` is the cloth height."""
    bg = pick_color(rng, ((30, 30, 200), (30, 30, 200), (180, 80, 20), (230, 230, 230), (40, 200, 240)), 20)
    text = PHRASES[int(rng.integers(len(PHRASES)))]
    if rng.random() < 0.5:
        text += " " + PHRASES[int(rng.integers(len(PHRASES)))]
    tp = text_patch(rng, fonts, text, text_color(rng, bg), bg, 48)
    aspect = max(3.0, tp.shape[1] / tp.shape[0] * float(rng.uniform(1.0, 1.3)))
    w = int(h * aspect)
    flat = np.empty((h * 2, w * 2, 3), np.uint8)
    flat[:] = bg
    th = int(h * 2 * 0.8)
    tw = min(w * 2 - 4, int(th * tp.shape[1] / tp.shape[0]))
    t = cv2.resize(tp, (tw, th), interpolation=cv2.INTER_AREA)
    x0, y0 = (w * 2 - tw) // 2, (h * 2 - th) // 2
    flat[y0 : y0 + th, x0 : x0 + tw] = t
    # wave: vertical sine displacement and shading
    amp = float(rng.uniform(0.0, 0.12)) * h * 2
    period = float(rng.uniform(0.3, 1.0)) * w * 2
    phase = float(rng.uniform(0, 6.28))
    pad = int(amp) + 2
    out = np.zeros((h * 2 + 2 * pad, w * 2, 3), np.uint8)
    alpha = np.zeros(out.shape[:2], np.uint8)
    xs = np.arange(w * 2)
    dy = (amp * np.sin(2 * np.pi * xs / period + phase)).astype(np.int32) + pad
    shade = 0.85 + 0.15 * np.cos(2 * np.pi * xs / period + phase)
    for x in range(w * 2):
        out[dy[x] : dy[x] + h * 2, x] = np.clip(flat[:, x] * shade[x], 0, 255).astype(np.uint8)
        alpha[dy[x] : dy[x] + h * 2, x] = 255
    bgr = cv2.resize(out, (w, out.shape[0] // 2), interpolation=cv2.INTER_AREA)
    a = cv2.resize(alpha, (w, out.shape[0] // 2), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return Sprite(bgr, a)


def draw_ad_board(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """A standing ad board: an A-frame (人字牌) or a roll-up / X-stand banner with text and prices."""
    kind = rng.integers(3)
    bg = pick_color(rng, (*BRIGHT, (20, 20, 20), (40, 60, 40)), 25)
    fg = text_color(rng, bg)
    frame = pick_color(rng, WOOD + DARK + ((200, 200, 200),), 10)
    if kind == 2:  # roll-up stand: tall and narrow, vertical text
        w = int(h * rng.uniform(0.3, 0.42))
        c = Canvas(w, h)
        c.rect(0.05, 0.0, 0.95, 0.93, bg)
        c.rect(0.0, 0.93, 1.0, 1.0, frame)
        tp = text_patch(rng, fonts, PHRASES[int(rng.integers(len(PHRASES)))][:5], fg, bg, 48, vertical=True)
        c.paint(0.15, 0.08, 0.85, 0.85, tp)
        return c.sprite()
    w = int(h * rng.uniform(0.5, 0.8))
    c = Canvas(w, h)
    # A-frame: the front panel narrows to the top; the legs splay at the bottom
    c.poly(
        [
            (0.12, 0.0),
            (0.88, 0.0),
            (1.0, 1.0),
            (0.93, 1.0),
            (0.86, 0.85),
            (0.14, 0.85),
            (0.07, 1.0),
            (0.0, 1.0),
        ],
        frame,
    )
    c.poly([(0.16, 0.04), (0.84, 0.04), (0.87, 0.82), (0.13, 0.82)], bg)
    lines = int(rng.integers(1, 4))
    for i in range(lines):
        txt = PHRASES[int(rng.integers(len(PHRASES)))][:4]
        if kind == 1 and i > 0:
            txt = f"{txt[:2]} {int(rng.integers(2, 60))}元"
        tp = text_patch(rng, fonts, txt, fg, bg, 40)
        y0 = 0.08 + i * 0.72 / lines
        c.paint(0.2, y0, 0.8, y0 + 0.72 / lines * 0.8, tp)
    return c.sprite()


def draw_poster(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """A pasted paper poster / small ad (小广告): text lines on paper, sometimes a torn corner."""
    w = int(h * rng.uniform(0.6, 1.4))
    c = Canvas(w, h)
    paper = pick_color(
        rng, ((235, 235, 235), (200, 230, 245), (150, 220, 250), (200, 200, 255), (220, 240, 210)), 15
    )
    torn = rng.random() < 0.4
    if torn:
        cut = float(rng.uniform(0.1, 0.3))
        c.poly([(0, 0), (1 - cut, 0), (1, cut), (1, 1), (0, 1)], paper)
    else:
        c.rect(0, 0, 1, 1, paper)
    lines = int(rng.integers(2, 5))
    for i in range(lines):
        txt = PHRASES[int(rng.integers(len(PHRASES)))]
        col = pick_color(rng, ((20, 20, 20), (30, 30, 200), (160, 50, 20)), 10)
        tp = text_patch(rng, fonts, txt, col, paper, 36 if i else 48)
        y0 = 0.06 + i * 0.9 / lines
        c.paint(0.06, y0, 0.94, y0 + 0.9 / lines * 0.75, tp)
    return c.sprite()


def draw_garbage(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """Garbage bags (black, green, white, blue) in a heap, sometimes with loose litter."""
    w = int(h * rng.uniform(1.0, 2.2))
    c = Canvas(w, h)
    n = int(rng.integers(1, 5))
    for _ in range(n):
        col = pick_color(
            rng,
            ((25, 25, 25), (30, 60, 30), (220, 220, 220), (150, 90, 40), (40, 40, 40), (60, 130, 170)),
            15,
        )
        bw = float(rng.uniform(0.3, 0.55))
        bh = float(rng.uniform(0.5, 0.95))
        cx = float(rng.uniform(bw / 2, 1 - bw / 2))
        # an irregular blob: a polygon around an ellipse with radial noise
        k = 14
        ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
        rad = rng.uniform(0.8, 1.05, k)
        pts = [
            (cx + bw / 2 * rad[i] * np.cos(ang[i]), 1 - bh / 2 + bh / 2 * rad[i] * np.sin(ang[i]) * 0.98)
            for i in range(k)
        ]
        pts = [(float(np.clip(x, 0, 1)), float(np.clip(y, 0, 1))) for x, y in pts]
        c.poly(pts, col)
        c.poly(
            [(cx - 0.03, 1 - bh - 0.0 + 0.04), (cx + 0.03, 1 - bh + 0.04), (cx, 1 - bh + 0.1)],
            shaded(col, 0.8),
        )
        c.ellipse(
            cx - bw * 0.15,
            1 - bh * 0.6,
            bw * 0.08,
            bh * 0.08,
            shaded(col, 1.6) if sum(col) < 300 else shaded(col, 1.1),
        )
    for _ in range(int(rng.integers(0, 4))):
        lx, ly = float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.8, 0.97))
        c.rect(
            lx,
            ly,
            lx + 0.05,
            ly + 0.03,
            pick_color(rng, ((230, 230, 230), (40, 40, 200), (60, 180, 230)), 20),
        )
    return c.sprite()


DRAWERS: dict[str, Callable[[np.random.Generator, int, tuple[CjkFont, ...]], Sprite]] = {
    "stall": draw_stall,
    "goods": draw_goods,
    "umbrella": draw_umbrella,
    "banner": draw_banner,
    "ad_board": draw_ad_board,
    "poster": draw_poster,
    "garbage": draw_garbage,
}

# Real-world height range of each class (metres), for perspective sizing against a 1.7 m person.
REAL_HEIGHT_M: dict[str, tuple[float, float]] = {
    "stall": (0.9, 1.4),
    "goods": (0.4, 1.3),
    "umbrella": (1.9, 2.6),
    "banner": (0.5, 1.0),
    "ad_board": (0.9, 1.8),
    "poster": (0.35, 0.9),
    "garbage": (0.35, 0.8),
}
