"""Placement, perspective, occlusion, lighting and image augmentation; exact YOLO labels.

An object's label is the bounding box of its *visible* pixels (alpha >= 0.5 after the sprite was
resized, perspective-warped, clipped to the frame and occluded by real pedestrians or by nearer
objects). Objects less than :data:`MIN_VISIBLE` visible are not drawn at all, so that nothing in an
image is unlabelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from modeling.synth import CLASS_ID, CLASSES
from modeling.synth.backgrounds import Background, Person, PhotoSpec
from modeling.synth.canvas import Sprite
from modeling.synth.domain import recolour
from modeling.synth.fonts import CjkFont
from modeling.synth.objects import DRAWERS, REAL_HEIGHT_M

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

MIN_VISIBLE = 0.4  # fraction of an object's pixels that must stay visible
MIN_BOX_PX = 6  # smallest label side, pixels
WALL_CLASSES = frozenset({"banner", "poster"})
CLASS_WEIGHTS: dict[str, float] = {
    "stall": 1.0,
    "goods": 1.0,
    "umbrella": 0.8,
    "banner": 0.9,
    "ad_board": 1.0,
    "poster": 1.0,
    "garbage": 1.0,
}


@dataclass
class Placed:
    """One object in a composed image: class, visible box (x1, y1, x2, y2 pixels) and visible mask."""

    cls: str
    box: tuple[int, int, int, int]
    mask: Mask = field(repr=False)
    full_area: int

    @property
    def class_id(self) -> int:
        return CLASS_ID[self.cls]


def warp_sprite(sprite: Sprite, rng: np.random.Generator, strength: float = 0.12) -> Sprite:
    """A random mild perspective: one side shorter (turned away), a slight shear and rotation."""
    w, h = sprite.size
    if w < 4 or h < 4 or strength <= 0:
        return sprite
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    turn = float(rng.uniform(-strength, strength))
    shear = float(rng.uniform(-strength, strength) * 0.5) * w
    dst = src.copy()
    if turn > 0:  # right side farther away: shorter
        dst[1, 1] += turn * h / 2
        dst[2, 1] -= turn * h / 2
        dst[1, 0] -= turn * w * 0.5
        dst[2, 0] -= turn * w * 0.5
    else:
        dst[0, 1] -= turn * h / 2
        dst[3, 1] += turn * h / 2
        dst[0, 0] -= turn * w * 0.5
        dst[3, 0] -= turn * w * 0.5
    dst[0, 0] += shear
    dst[1, 0] += shear
    ang = float(rng.uniform(-4, 4)) * np.pi / 180
    ctr = dst.mean(axis=0)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
    dst = (dst - ctr) @ rot.T + ctr
    dst -= dst.min(axis=0)
    ow, oh = int(np.ceil(dst[:, 0].max())) + 1, int(np.ceil(dst[:, 1].max())) + 1
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    bgr = cv2.warpPerspective(sprite.bgr, m, (ow, oh), flags=cv2.INTER_LINEAR, borderValue=0)
    a = cv2.warpPerspective(sprite.alpha, m, (ow, oh), flags=cv2.INTER_LINEAR, borderValue=0)
    return Sprite(bgr, a)


def person_height_px(spec: PhotoSpec, y: float, height: int) -> float:
    """A 1.7 m person's height in pixels when standing at row ``y`` (pixels) of an image ``height`` tall."""
    horizon = spec.horizon * height
    return max(0.0, spec.person_h * height * (y - horizon) / max(1.0, height - horizon))


def _light(sprite: Sprite, rng: np.random.Generator, bg_patch: Image) -> Image:
    """Match the sprite's brightness to the scene, with a random light gradient."""
    bgr = sprite.bgr.astype(np.float32)
    scene = float(bg_patch.mean()) / 128.0 if bg_patch.size else 1.0
    gain = float(np.clip(0.55 + 0.45 * scene, 0.45, 1.25)) * float(rng.uniform(0.8, 1.15))
    h, w = bgr.shape[:2]
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * float(rng.uniform(-0.15, 0.15))
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * float(rng.uniform(-0.15, 0.1))
    tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    out = bgr * (gain * (1 + gx + gy))[..., None] * tint
    out += rng.normal(0, 3, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


class Composer:
    """Composes one image: background + objects (+ optional real occlusion mask) → image, labels."""

    def __init__(self, fonts: tuple[CjkFont, ...], recolour: float = 0.0) -> None:
        """``recolour``: the probability that an object's colours are changed (a domain's object
        looks, :mod:`modeling.synth.domain`); 0 (the training domain) draws nothing more from the rng."""
        self.fonts = fonts
        self.recolour = recolour

    def compose(
        self,
        rng: np.random.Generator,
        bg: Background,
        n_objects: int,
        occluder: Mask | None = None,
        classes: tuple[str, ...] = CLASSES,
        shadows: bool = True,
    ) -> tuple[Image, list[Placed]]:
        """Place up to ``n_objects``; ``occluder`` marks real foreground (pedestrians) drawn in front."""
        img = bg.image.copy()
        H, W = img.shape[:2]
        weights = np.array([CLASS_WEIGHTS.get(c, 1.0) for c in classes], np.float64)
        weights /= weights.sum()
        wanted = [classes[int(i)] for i in rng.choice(len(classes), size=n_objects, p=weights)]
        plans: list[tuple[float, str, Sprite, int, int]] = []  # (depth, cls, sprite, x, y)
        for cls in wanted:
            plan = self._plan(rng, bg, cls, W, H)
            if plan is None:
                continue
            plans.append(plan)
            if cls == "stall" and "umbrella" in classes and rng.random() < 0.35:
                # umbrella stall: a parasol standing just behind the table
                _, _, sp, x, y = plan
                uh = int(sp.size[1] * float(rng.uniform(1.7, 2.2)))
                u = warp_sprite(DRAWERS["umbrella"](rng, uh, self.fonts), rng, 0.05)
                ux = (
                    x
                    + sp.size[0] // 2
                    - u.size[0] // 2
                    + int(rng.integers(-sp.size[0] // 4, sp.size[0] // 4 + 1))
                )
                plans.append((y - 3, "umbrella", u, ux, y - 3 - u.size[1]))
        # walls first, then far-to-near (painter's order)
        plans.sort(key=lambda p: (p[1] not in WALL_CLASSES, p[0]))
        placed: list[Placed] = []
        for _, cls, sp, x, y in plans:
            self._paste(rng, img, placed, cls, sp, x, y, occluder, shadows)
        return img, placed

    def _plan(
        self, rng: np.random.Generator, bg: Background, cls: str, W: int, H: int
    ) -> tuple[float, str, Sprite, int, int] | None:
        spec = bg.spec
        lo, hi = REAL_HEIGHT_M[cls]
        real_h = float(rng.uniform(lo, hi))
        for _ in range(10):
            if cls in WALL_CLASSES:
                # on a wall, fence or pole: anywhere above the feet of a person at that spot
                foot = float(rng.uniform(max(spec.ground_top, spec.horizon + 0.05), 1.0)) * H
                ph = person_height_px(spec, foot, H)
                h = int(ph * real_h / 1.7)
                y = int(foot - ph * float(rng.uniform(0.3, 1.3)))
            else:
                y_bottom = float(rng.uniform(max(spec.ground_top, spec.horizon + 0.05), 1.02)) * H
                ph = person_height_px(spec, y_bottom, H)
                h = int(ph * real_h / 1.7 * float(rng.uniform(0.85, 1.2)))
                y = int(y_bottom) - h
            if h < 10 or h > 0.9 * H:
                continue
            sp = warp_sprite(DRAWERS[cls](rng, h, self.fonts), rng)
            sw, sh = sp.size
            if sw > (0.6 if cls == "banner" else 0.9) * W:
                continue
            x = int(rng.integers(-sw // 5, W - sw + sw // 5 + 1))
            return (float(y + sh), cls, sp, x, y)
        return None

    def _paste(
        self,
        rng: np.random.Generator,
        img: Image,
        placed: list[Placed],
        cls: str,
        sp: Sprite,
        x: int,
        y: int,
        occluder: Mask | None,
        shadows: bool,
    ) -> bool:
        H, W = img.shape[:2]
        sw, sh = sp.size
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + sw), min(H, y + sh)
        if x1 - x0 < MIN_BOX_PX or y1 - y0 < MIN_BOX_PX:
            return False
        a = sp.alpha[y0 - y : y1 - y, x0 - x : x1 - x].copy()
        full_area = int((sp.alpha >= 0.5).sum())
        if full_area == 0:
            return False
        if occluder is not None:
            a[occluder[y0:y1, x0:x1]] = 0.0
        mask = np.zeros((H, W), bool)
        mask[y0:y1, x0:x1] = a >= 0.5
        if mask.sum() < MIN_VISIBLE * full_area:
            return False
        # nearer objects must not hide an earlier one too much
        for p in placed:
            if (p.mask & ~mask).sum() < MIN_VISIBLE * p.full_area:
                return False
        region = img[y0:y1, x0:x1]
        lit = _light(Sprite(sp.bgr[y0 - y : y1 - y, x0 - x : x1 - x], a), rng, region)
        if self.recolour > 0 and rng.random() < self.recolour:
            lit = recolour(lit, rng)
        if cls not in WALL_CLASSES and rng.random() < 0.8 and shadows:
            self._shadow(rng, img, x0, x1, min(H - 1, y + sh), occluder)
            region = img[y0:y1, x0:x1]
        af = a[..., None]
        region[:] = np.clip(lit * af + region * (1 - af), 0, 255).astype(np.uint8)
        for p in placed:
            p.mask &= ~mask
            p.box = _bbox(p.mask)
        placed.append(Placed(cls, _bbox(mask), mask, full_area))
        return True

    @staticmethod
    def _shadow(
        rng: np.random.Generator, img: Image, x0: int, x1: int, yb: int, occluder: Mask | None
    ) -> None:
        H, W = img.shape[:2]
        w = x1 - x0
        sh = np.zeros((H, W), np.float32)
        cx = (x0 + x1) // 2 + int(rng.integers(-w // 6 - 1, w // 6 + 1))
        cv2.ellipse(sh, (cx, yb), (max(2, int(w * 0.55)), max(2, int(w * 0.08))), 0, 0, 360, 1.0, -1)
        sh = cv2.GaussianBlur(sh, (0, 0), max(1.0, w * 0.04))
        if occluder is not None:
            sh[occluder] = 0
        dark = 1 - float(rng.uniform(0.2, 0.45)) * sh
        img[:] = np.clip(img * dark[..., None], 0, 255).astype(np.uint8)


def add_pedestrians(
    rng: np.random.Generator, img: Image, placed: list[Placed], spec: PhotoSpec, people: list[Person], n: int
) -> Mask:
    """Paste up to ``n`` real pedestrians (unlabelled) in front of everything, at the ground model's
    scale; the objects' visible masks and boxes shrink accordingly. A pedestrian that would hide
    too much of an object is left out. Returns the pasted pedestrians' mask."""
    H, W = img.shape[:2]
    union = np.zeros((H, W), bool)
    if not people:
        return union
    for _ in range(n):
        person = people[int(rng.integers(len(people)))]
        foot = float(rng.uniform(max(spec.ground_top, spec.horizon + 0.05), 1.05)) * H
        ph = int(person_height_px(spec, foot, H) * float(rng.uniform(0.85, 1.15)))
        if ph < 16:
            continue
        pw = max(4, int(person.bgr.shape[1] * ph / person.bgr.shape[0]))
        x = int(rng.integers(-pw // 3, W - pw + pw // 3 + 1))
        y = int(foot) - ph
        bgr = cv2.resize(person.bgr, (pw, ph), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(person.alpha, (pw, ph), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            bgr, alpha = bgr[:, ::-1], alpha[:, ::-1]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + pw), min(H, y + ph)
        if x1 - x0 < 4 or y1 - y0 < 8:
            continue
        a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
        mask = np.zeros((H, W), bool)
        mask[y0:y1, x0:x1] = a > 0.02
        if any((p.mask & ~mask).sum() < MIN_VISIBLE * p.full_area for p in placed):
            continue
        region = img[y0:y1, x0:x1]
        af = a[..., None]
        region[:] = np.clip(bgr[y0 - y : y1 - y, x0 - x : x1 - x] * af + region * (1 - af), 0, 255).astype(
            np.uint8
        )
        for p in placed:
            p.mask &= ~mask
            p.box = _bbox(p.mask)
        union |= mask
    return union


def _bbox(mask: Mask) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0, 0, 0, 0)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def augment(img: Image, rng: np.random.Generator) -> Image:
    """Camera effects on the whole image: exposure, blur or motion blur, low resolution, noise, JPEG."""
    out = img.astype(np.float32)
    out = out * float(rng.uniform(0.7, 1.25)) + float(rng.uniform(-20, 20))
    if rng.random() < 0.3:
        gamma = float(rng.uniform(0.7, 1.4))
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
    out_u8 = np.clip(out, 0, 255).astype(np.uint8)
    r = rng.random()
    if r < 0.25:
        out_u8 = cv2.GaussianBlur(out_u8, (0, 0), float(rng.uniform(0.5, 1.5)))
    elif r < 0.35:
        k = int(rng.integers(3, 8))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        out_u8 = cv2.filter2D(out_u8, -1, kern)
    if rng.random() < 0.25:
        h, w = out_u8.shape[:2]
        f = float(rng.uniform(0.4, 0.7))
        small = cv2.resize(out_u8, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
        out_u8 = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.6:
        noise = rng.normal(0, float(rng.uniform(2, 8)), out_u8.shape).astype(np.float32)
        out_u8 = np.clip(out_u8 + noise, 0, 255).astype(np.uint8)
    q = int(rng.integers(30, 92))
    ok, buf = cv2.imencode(".jpg", out_u8, [cv2.IMWRITE_JPEG_QUALITY, q])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return out_u8 if decoded is None else np.asarray(decoded, np.uint8)


def yolo_lines(placed: list[Placed], w: int, h: int) -> list[str]:
    """YOLO label lines ``cls cx cy w h`` (normalised), one per object with a box of at least MIN_BOX_PX."""
    lines = []
    for p in placed:
        x1, y1, x2, y2 = p.box
        if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
            continue
        lines.append(
            f"{p.class_id} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
        )
    return lines
