"""Domain options for the generator: which backgrounds, lighting, object looks and camera height.

``DOMAINS["default"]`` is what the shipped model was trained on (the generator's output with it is
byte for byte what it was before domains existed). ``DOMAINS["shifted"]`` is a domain held apart
from it (issue 16, ``benchmarks/bench_learning.py``): other OpenCV sample photos as backgrounds
(none of them, and no ``vtest.avi`` frame, was a training background), dusk/night/haze/colour-cast
lighting, recoloured objects and a higher camera (objects smaller).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from modeling.synth.backgrounds import PHOTOS, PhotoSpec

Image = npt.NDArray[np.uint8]
Look = Literal["daylight", "dusk", "night", "haze", "cast"]
LOOKS: tuple[Look, ...] = ("daylight", "dusk", "night", "haze", "cast")


@dataclass(frozen=True)
class Domain:
    """What a generated image looks like. The defaults are the training domain."""

    name: str = "default"
    photos: tuple[PhotoSpec, ...] = PHOTOS
    vtest_share: float = 0.65  # fraction of backgrounds taken from vtest.avi's training frames
    object_scale: float = 1.0  # camera height: < 1 draws everything (objects, people) smaller
    lighting: tuple[Look, ...] = ()  # one picked per image; () leaves the image as composed
    recolour: float = 0.0  # probability that an object's colours are rotated in hue / washed out

    @property
    def is_default(self) -> bool:
        return self == Domain()


SHIFTED_PHOTOS: tuple[PhotoSpec, ...] = (
    PhotoSpec("home.jpg", 0.55, 0.70, 0.70),  # a palace facade against the sky, seen from below
    PhotoSpec("graf1.png", 0.30, 0.80, 0.50),  # a graffiti wall, frontal
    PhotoSpec("aero1.jpg", 0.00, 0.30, 0.15),  # a city from the air: a very high camera
    PhotoSpec("aero3.jpg", 0.00, 0.30, 0.30),
    PhotoSpec("messi5.jpg", 0.55, 0.85, 0.75),  # a football pitch in front of a crowd
    PhotoSpec("basketball1.png", 0.40, 0.90, 0.60),  # an office corridor, greyscale
    PhotoSpec("basketball2.png", 0.40, 0.90, 0.60),
)

DOMAINS: dict[str, Domain] = {
    "default": Domain(),
    "shifted": Domain(
        name="shifted",
        photos=SHIFTED_PHOTOS,
        vtest_share=0.0,
        object_scale=0.75,
        lighting=("daylight", "daylight", "dusk", "haze", "cast", "night"),
        recolour=0.4,
    ),
}


def lighting_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream that picks and applies the look of image ``index`` of a set made with ``seed``
    (its own stream: the training domain, which has no lighting, draws nothing from it)."""
    return np.random.default_rng([seed, index, 2])


def pick_look(rng: np.random.Generator, looks: tuple[Look, ...]) -> Look:
    return looks[int(rng.integers(len(looks)))]


def look_of(seed: int, index: int, looks: tuple[Look, ...]) -> Look:
    """The look :func:`relight` gave image ``index`` of a set made with ``seed`` (for per-look scores)."""
    return pick_look(lighting_rng(seed, index), looks)


def relight(img: Image, rng: np.random.Generator, looks: tuple[Look, ...]) -> Image:
    """The whole scene under one of ``looks``: dusk (dim, warm), night (dark, blue, noisy, lit
    unevenly), haze (low contrast, grey), cast (a sodium or fluorescent colour cast)."""
    look = pick_look(rng, looks)
    out = img.astype(np.float32)
    h, w = img.shape[:2]
    if look == "dusk":
        out = out * float(rng.uniform(0.45, 0.7)) * np.array([0.75, 0.9, 1.15], np.float32)
    elif look == "night":
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h * 0.6))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        lamp = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.45 * w) ** 2))
        gain = float(rng.uniform(0.2, 0.35)) + float(rng.uniform(0.2, 0.4)) * lamp
        out = out * gain[..., None] * np.array([1.2, 0.95, 0.8], np.float32)
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** float(rng.uniform(1.0, 1.3))
        out += rng.normal(0, float(rng.uniform(4, 9)), out.shape).astype(np.float32)
    elif look == "haze":
        k = float(rng.uniform(0.35, 0.55))
        out = out * k + float(rng.uniform(110, 170)) * (1 - k)
    elif look == "cast":
        sodium = np.array([0.55, 0.85, 1.25], np.float32)
        fluorescent = np.array([1.0, 1.2, 0.75], np.float32)
        out = out * (sodium if rng.random() < 0.5 else fluorescent) * float(rng.uniform(0.7, 1.0))
    return np.clip(out, 0, 255).astype(np.uint8)


def recolour(bgr: Image, rng: np.random.Generator) -> Image:
    """Another palette for one object: its hues rotated by 40-140 degrees, partly washed out."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.int32)
    shift = int(rng.integers(20, 71)) * (1 if rng.random() < 0.5 else -1)  # OpenCV hue is 0..179
    hsv[..., 0] = (hsv[..., 0] + shift) % 180
    hsv[..., 1] = (hsv[..., 1] * float(rng.uniform(0.4, 1.0))).astype(np.int32)
    out: Image = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    return out
