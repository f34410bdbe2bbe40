"""What the synthetic objects are drawn with: a 2x canvas with its own alpha, CJK text patches,
palettes and the phrases shops and posters carry.

:class:`Canvas` draws in fractions of the object's box at twice the size and downsamples once
(:meth:`Canvas.sprite`), for anti-aliased edges; a :class:`Sprite`'s alpha is exactly the object's
pixels. The drawings themselves are :mod:`modeling.synth.objects`.
"""

from __future__ import annotations

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


def pick_color(rng: np.random.Generator, palette: tuple[Color, ...], jitter: int = 20) -> Color:
    """A colour of ``palette``, each channel moved by up to ``jitter``."""
    base = palette[int(rng.integers(len(palette)))]
    j = rng.integers(-jitter, jitter + 1, 3)
    return (
        int(np.clip(base[0] + j[0], 0, 255)),
        int(np.clip(base[1] + j[1], 0, 255)),
        int(np.clip(base[2] + j[2], 0, 255)),
    )


def shaded(c: Color, f: float) -> Color:
    """``c`` darker (``f`` < 1) or lighter."""
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


def text_color(rng: np.random.Generator, bg: Color) -> Color:
    """A text colour that reads on ``bg``: dark on a light background, light on a dark one."""
    lum = 0.114 * bg[0] + 0.587 * bg[1] + 0.299 * bg[2]
    if lum > 140:
        return pick_color(rng, ((20, 20, 20), (30, 30, 180), (150, 40, 20)), 10)
    return pick_color(rng, ((240, 240, 240), (60, 230, 250), (220, 220, 255)), 10)
