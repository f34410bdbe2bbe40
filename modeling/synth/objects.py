"""Procedural drawings of the detector classes, as sprites (BGR + alpha) of a requested size.

Each ``draw_*`` function returns a :class:`Sprite` whose alpha is exactly the object's pixels, so the
label is the bounding box of the (visible) alpha after warping and compositing. Sizes are in pixels;
the caller (``compose``) chooses them from the ground model. Everything is drawn at 2x and
downsampled once, for anti-aliased edges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw

from modeling.synth.fonts import CjkFont

Image = npt.NDArray[np.uint8]
Color = tuple[int, int, int]

PHRASES: tuple[str, ...] = (
    "清仓大甩卖",
    "新鲜水果",
    "旺铺转让",
    "店面招租",
    "开业大吉",
    "全场五折",
    "手机贴膜",
    "烧烤",
    "奶茶",
    "特价优惠",
    "房屋出租",
    "热烈庆祝",
    "专业开锁",
    "疏通下水道",
    "招聘服务员",
    "早餐",
    "麻辣烫",
    "修鞋配钥匙",
    "家常菜",
    "美容美发",
    "五金建材",
    "便利店",
    "水果批发",
    "童装特卖",
    "回收旧手机",
    "羊肉串",
    "煎饼果子",
    "鲜花",
    "文明城市",
    "欢迎光临",
    "买一送一",
    "限时抢购",
    "电话13800000000",
    "联系王先生",
    "小吃",
    "凉皮",
    "快递代收",
    "洗车",
    "装修公司",
    "培训班招生",
)
BRIGHT: tuple[Color, ...] = (
    (40, 40, 210),
    (30, 160, 230),
    (40, 200, 240),
    (60, 170, 60),
    (200, 120, 30),
    (160, 60, 160),
    (230, 230, 230),
    (30, 90, 200),
    (120, 200, 250),
    (200, 200, 60),
    (90, 60, 190),
    (20, 20, 150),
)
DARK: tuple[Color, ...] = ((25, 25, 25), (40, 60, 40), (60, 50, 40), (70, 70, 80), (30, 30, 60))
WOOD: tuple[Color, ...] = ((60, 100, 140), (40, 70, 110), (90, 130, 170), (110, 110, 110), (150, 150, 160))
CARDBOARD: tuple[Color, ...] = ((80, 130, 175), (95, 145, 190), (70, 115, 160), (110, 160, 200))


@dataclass
class Sprite:
    """An object's pixels: ``bgr`` (h, w, 3) and ``alpha`` (h, w) float32 in 0..1."""

    bgr: Image
    alpha: npt.NDArray[np.float32]

    @property
    def size(self) -> tuple[int, int]:
        return self.bgr.shape[1], self.bgr.shape[0]


def _c(rng: np.random.Generator, palette: tuple[Color, ...], jitter: int = 20) -> Color:
    base = palette[int(rng.integers(len(palette)))]
    j = rng.integers(-jitter, jitter + 1, 3)
    return (
        int(np.clip(base[0] + j[0], 0, 255)),
        int(np.clip(base[1] + j[1], 0, 255)),
        int(np.clip(base[2] + j[2], 0, 255)),
    )


def _shade(c: Color, f: float) -> Color:
    return (int(min(255, c[0] * f)), int(min(255, c[1] * f)), int(min(255, c[2] * f)))


class Canvas:
    """A 2x drawing surface with its own alpha; :meth:`sprite` downsamples to the target size."""

    def __init__(self, w: int, h: int, scale: int = 2) -> None:
        self.s = scale
        self.w, self.h = max(2, w), max(2, h)
        self.bgr = np.zeros((self.h * scale, self.w * scale, 3), np.uint8)
        self.a = np.zeros((self.h * scale, self.w * scale), np.uint8)

    def pts(self, p: list[tuple[float, float]]) -> npt.NDArray[np.int32]:
        return np.array([[x * self.s * self.w, y * self.s * self.h] for x, y in p], np.int32)

    def poly(self, p: list[tuple[float, float]], color: Color) -> None:
        q = self.pts(p)
        cv2.fillPoly(self.bgr, [q], color, cv2.LINE_AA)
        cv2.fillPoly(self.a, [q], 255, cv2.LINE_AA)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color)

    def line(self, p0: tuple[float, float], p1: tuple[float, float], color: Color, width: float) -> None:
        a, b = self.pts([p0, p1])
        t = max(1, int(width * self.s * self.w))
        cv2.line(self.bgr, tuple(int(v) for v in a), tuple(int(v) for v in b), color, t, cv2.LINE_AA)
        cv2.line(self.a, tuple(int(v) for v in a), tuple(int(v) for v in b), 255, t, cv2.LINE_AA)

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, color: Color, a0: int = 0, a1: int = 360
    ) -> None:
        c = (int(cx * self.s * self.w), int(cy * self.s * self.h))
        ax = (max(1, int(rx * self.s * self.w)), max(1, int(ry * self.s * self.h)))
        cv2.ellipse(self.bgr, c, ax, 0, a0, a1, color, -1, cv2.LINE_AA)
        cv2.ellipse(self.a, c, ax, 0, a0, a1, 255, -1, cv2.LINE_AA)

    def paint(self, x0: float, y0: float, x1: float, y1: float, patch: Image) -> None:
        """Paste an opaque BGR patch into the box (fractions), only where the canvas is already opaque."""
        X0, Y0 = int(x0 * self.s * self.w), int(y0 * self.s * self.h)
        X1, Y1 = int(x1 * self.s * self.w), int(y1 * self.s * self.h)
        if X1 - X0 < 2 or Y1 - Y0 < 2:
            return
        p = cv2.resize(patch, (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_AREA)
        region = self.a[Y0:Y1, X0:X1] > 0
        self.bgr[Y0:Y1, X0:X1][region] = p[: region.shape[0], : region.shape[1]][region]

    def sprite(self) -> Sprite:
        bgr = cv2.resize(self.bgr, (self.w, self.h), interpolation=cv2.INTER_AREA)
        a = cv2.resize(self.a, (self.w, self.h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return Sprite(bgr, a)


def text_patch(
    rng: np.random.Generator,
    fonts: tuple[CjkFont, ...],
    text: str,
    fg: Color,
    bg: Color,
    height: int = 48,
    vertical: bool = False,
) -> Image:
    """Text rendered in a random CJK face on a solid background (BGR), tight with a small margin."""
    font = fonts[int(rng.integers(len(fonts)))].load(height)
    if vertical:
        text = "\n".join(text)
    img = PILImage.new("RGB", (8, 8))
    box = ImageDraw.Draw(img).multiline_textbbox((0, 0), text, font=font, spacing=2)
    w, h = int(box[2] - box[0] + height // 3), int(box[3] - box[1] + height // 3)
    img = PILImage.new("RGB", (max(8, w), max(8, h)), (bg[2], bg[1], bg[0]))
    ImageDraw.Draw(img).multiline_text(
        (height // 6 - box[0], height // 6 - box[1]), text, font=font, fill=(fg[2], fg[1], fg[0]), spacing=2
    )
    return np.asarray(img)[:, :, ::-1].copy()


def _text_color(rng: np.random.Generator, bg: Color) -> Color:
    lum = 0.114 * bg[0] + 0.587 * bg[1] + 0.299 * bg[2]
    if lum > 140:
        return _c(rng, ((20, 20, 20), (30, 30, 180), (150, 40, 20)), 10)
    return _c(rng, ((240, 240, 240), (60, 230, 250), (220, 220, 255)), 10)


def _goods_on(c: Canvas, rng: np.random.Generator, x0: float, x1: float, ybase: float, top: float) -> None:
    """Small goods (fruit piles, boxes, bottles) standing on a surface at ``ybase``."""
    x = x0
    while x < x1 - 0.04:
        w = float(rng.uniform(0.06, 0.2))
        w = min(w, x1 - x)
        kind = rng.integers(3)
        col = _c(rng, BRIGHT, 40)
        h = float(rng.uniform(0.3, 1.0)) * (ybase - top)
        if kind == 0:  # fruit pile: many small circles
            for _ in range(int(rng.integers(4, 10))):
                cx = x + float(rng.uniform(0.15, 0.85)) * w
                cy = ybase - float(rng.uniform(0.05, 0.7)) * h
                r = w * float(rng.uniform(0.12, 0.25))
                c.ellipse(cx, cy, r, r * c.w / c.h, _shade(col, float(rng.uniform(0.7, 1.2))))
        elif kind == 1:  # box
            c.rect(x, ybase - h, x + w * 0.9, ybase, col)
            c.rect(x, ybase - h, x + w * 0.9, ybase - h * 0.85, _shade(col, 1.3))
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
    cloth = _c(rng, BRIGHT + WOOD, 30)
    depth = float(rng.uniform(0.06, 0.14))
    variant = rng.integers(3)
    # table top seen from above (a thin parallelogram)
    c.poly([(0.04, top_y), (0.96, top_y), (1.0, top_y + depth), (0.0, top_y + depth)], _shade(cloth, 1.2))
    if variant == 0:  # table with cloth to the ground
        c.poly([(0.0, top_y + depth), (1.0, top_y + depth), (0.98, 1.0), (0.02, 1.0)], cloth)
        for _ in range(int(rng.integers(0, 4))):
            xx = float(rng.uniform(0.05, 0.95))
            c.line((xx, top_y + depth), (xx, 1.0), _shade(cloth, 0.8), 0.01)
    elif variant == 1:  # table on legs
        c.rect(0.0, top_y + depth, 1.0, top_y + depth + 0.08, _shade(cloth, 0.8))
        leg = _c(rng, WOOD + DARK, 10)
        for xx in (0.04, 0.94):
            c.rect(xx, top_y + depth, xx + 0.03, 1.0, leg)
        if rng.random() < 0.5:
            c.rect(0.05, 0.75, 0.95, 0.8, leg)
    else:  # tricycle cart: flatbed box and wheels
        body = _c(rng, BRIGHT + WOOD, 20)
        c.rect(0.0, top_y + depth, 0.85, 0.78, body)
        wheel = _c(rng, DARK, 10)
        for cx in (0.15, 0.7):
            c.ellipse(cx, 0.86, 0.09, 0.14 * c.w / c.h * 0.5 + 0.06, wheel)
        c.line((0.85, top_y + depth), (1.0, 0.55), wheel, 0.02)
    _goods_on(c, rng, 0.05, 0.95, top_y + depth * 0.5, float(rng.uniform(0.0, 0.2)))
    if rng.random() < 0.5:
        col = _c(rng, BRIGHT, 20)
        tp = text_patch(rng, fonts, PHRASES[int(rng.integers(len(PHRASES)))][:4], _text_color(rng, col), col)
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
                col = _c(rng, CARDBOARD, 15)
                c.rect(x0, y - hh, x1, y, col)
                c.rect(x0, y - hh, x1, y - hh * 0.85, _shade(col, 1.15))
                c.rect((x0 + x1) / 2 - 0.01, y - hh, (x0 + x1) / 2 + 0.01, y - hh * 0.5, _shade(col, 1.35))
                if rng.random() < 0.3:
                    tp = text_patch(
                        rng, fonts, PHRASES[int(rng.integers(len(PHRASES)))][:3], (30, 30, 30), col, 32
                    )
                    c.paint(x0 + 0.1 * cw, y - hh * 0.6, x1 - 0.1 * cw, y - hh * 0.3, tp)
            elif kind == 1:  # plastic crate with holes
                col = _c(rng, BRIGHT, 25)
                c.rect(x0, y - hh, x1, y, col)
                hole = _shade(col, 0.5)
                for gx in np.linspace(x0 + 0.03, x1 - 0.06, 4):
                    for gy in np.linspace(y - hh + 0.05 * hh * 3, y - 0.1 * hh, 3):
                        c.rect(float(gx), float(gy), float(gx) + 0.03, float(gy) + 0.05 * hh * 2, hole)
            else:  # sacks
                col = _c(rng, ((170, 200, 215), (200, 200, 200), (120, 160, 200), (90, 170, 110)), 15)
                c.ellipse((x0 + x1) / 2, y - hh / 2, (x1 - x0) / 2, hh / 2, col)
            y -= hh
    return c.sprite()


def draw_umbrella(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """A street parasol: striped canopy, scalloped edge, pole and base."""
    w = int(h * rng.uniform(0.9, 1.4))
    c = Canvas(w, h)
    ca = _c(rng, BRIGHT, 25)
    cb = _c(rng, ((235, 235, 235), (40, 40, 200), (40, 200, 240), (200, 120, 30)), 15)
    striped = rng.random() < 0.7
    dome_h = float(rng.uniform(0.18, 0.32))
    edge_y = 0.05 + dome_h
    n = int(rng.integers(4, 9))
    pole = _c(rng, ((200, 200, 200), (60, 60, 60), (50, 90, 130)), 10)
    c.rect(0.485, edge_y, 0.515, 0.97, pole)
    c.ellipse(0.5, 0.97, 0.12, 0.03, _c(rng, DARK, 10))
    for i in range(n):
        xa, xb = i / n, (i + 1) / n
        col = (ca if i % 2 == 0 else cb) if striped else _shade(ca, 0.85 + 0.3 * (i % 2))
        c.poly([(0.5, 0.02), (0.02 + 0.96 * xa, edge_y), (0.02 + 0.96 * xb, edge_y)], col)
        c.ellipse(0.02 + 0.96 * (xa + xb) / 2, edge_y, 0.48 / n, 0.035, col, 0, 180)
    if rng.random() < 0.35:
        tp = text_patch(rng, fonts, PHRASES[int(rng.integers(len(PHRASES)))][:4], (240, 240, 240), ca, 40)
        c.paint(0.3, edge_y - dome_h * 0.35, 0.7, edge_y - dome_h * 0.05, tp)
    return c.sprite()


def draw_banner(rng: np.random.Generator, h: int, fonts: tuple[CjkFont, ...]) -> Sprite:
    """A cloth banner (横幅) with a slogan, slightly wavy; ``h`` is the cloth height."""
    bg = _c(rng, ((30, 30, 200), (30, 30, 200), (180, 80, 20), (230, 230, 230), (40, 200, 240)), 20)
    text = PHRASES[int(rng.integers(len(PHRASES)))]
    if rng.random() < 0.5:
        text += " " + PHRASES[int(rng.integers(len(PHRASES)))]
    tp = text_patch(rng, fonts, text, _text_color(rng, bg), bg, 48)
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
    bg = _c(rng, (*BRIGHT, (20, 20, 20), (40, 60, 40)), 25)
    fg = _text_color(rng, bg)
    frame = _c(rng, WOOD + DARK + ((200, 200, 200),), 10)
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
    paper = _c(rng, ((235, 235, 235), (200, 230, 245), (150, 220, 250), (200, 200, 255), (220, 240, 210)), 15)
    torn = rng.random() < 0.4
    if torn:
        cut = float(rng.uniform(0.1, 0.3))
        c.poly([(0, 0), (1 - cut, 0), (1, cut), (1, 1), (0, 1)], paper)
    else:
        c.rect(0, 0, 1, 1, paper)
    lines = int(rng.integers(2, 5))
    for i in range(lines):
        txt = PHRASES[int(rng.integers(len(PHRASES)))]
        col = _c(rng, ((20, 20, 20), (30, 30, 200), (160, 50, 20)), 10)
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
        col = _c(
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
            _shade(col, 0.8),
        )
        c.ellipse(
            cx - bw * 0.15,
            1 - bh * 0.6,
            bw * 0.08,
            bh * 0.08,
            _shade(col, 1.6) if sum(col) < 300 else _shade(col, 1.1),
        )
    for _ in range(int(rng.integers(0, 4))):
        lx, ly = float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.8, 0.97))
        c.rect(lx, ly, lx + 0.05, ly + 0.03, _c(rng, ((230, 230, 230), (40, 40, 200), (60, 180, 230)), 20))
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
