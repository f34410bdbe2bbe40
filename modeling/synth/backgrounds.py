"""Real backgrounds: OpenCV's sample data from Debian's ``opencv-doc`` package (``make data``).

``vtest.avi`` (a real CCTV view of a campus street with pedestrians, 768x576, 10 fps, 795 frames)
and street photos (``building.jpg``, ``leuvenA.jpg``, ``leuvenB.jpg`` …). Each background carries a
rough ground model: ``horizon`` (fraction of the height where the ground vanishes) and
``person_h`` (a person's height, as a fraction of the image height, standing at the bottom edge), so
that objects are drawn smaller higher in the frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detector.errors import DataError

Image = npt.NDArray[np.uint8]

DEFAULT_DATA_DIR = Path("data/opencv-doc/usr/share/doc/opencv-doc/examples/data")
VTEST = "vtest.avi"
# vtest.avi frames below this index may be used as training backgrounds; the rest are held out for the
# false-positive check (`nce model fpcheck`) so that its numbers are on footage the model never saw.
VTEST_TRAIN_FRAMES = 480


@dataclass(frozen=True)
class PhotoSpec:
    name: str
    horizon: float
    person_h: float
    ground_top: float  # objects stand no higher than this fraction of the height


PHOTOS: tuple[PhotoSpec, ...] = (
    PhotoSpec("building.jpg", 0.30, 0.55, 0.42),
    PhotoSpec("leuvenA.jpg", 0.55, 0.70, 0.70),
    PhotoSpec("leuvenB.jpg", 0.55, 0.70, 0.70),
)
VTEST_SPEC = PhotoSpec(VTEST, 0.05, 0.30, 0.30)


@dataclass(frozen=True)
class Background:
    """A background image, its ground model, and (vtest.avi) the mask of real pedestrians in it."""

    image: Image
    spec: PhotoSpec
    source: str
    occluder: npt.NDArray[np.bool_] | None = None


def median_background(frames: list[Image]) -> Image:
    """The empty scene: the per-pixel median of frames of a fixed camera."""
    empty: Image = np.median(np.stack(frames[:: max(1, len(frames) // 60)]), axis=0).astype(np.uint8)
    return empty


def foreground_mask(frame: Image, empty: Image, threshold: int = 28) -> npt.NDArray[np.bool_]:
    """Pixels that differ from the empty scene (pedestrians), cleaned up and slightly grown."""
    diff = cv2.absdiff(frame, empty).max(axis=2)
    m = (diff > threshold).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((9, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 60
    m = keep[labels].astype(np.uint8)
    grown: npt.NDArray[np.bool_] = np.asarray(cv2.dilate(m, np.ones((3, 3), np.uint8)), bool)
    return grown


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The opencv-doc sample-data folder: ``path``, ``$NCE_OPENCV_DATA`` or ``./data/opencv-doc/...``."""
    candidate = Path(path or os.environ.get("NCE_OPENCV_DATA") or DEFAULT_DATA_DIR)
    if not (candidate / VTEST).is_file():
        raise DataError(f"OpenCV sample data not found in {candidate} (no {VTEST}); run `make data` first")
    return candidate


def vtest_path(path: str | os.PathLike[str] | None = None) -> Path:
    return data_dir(path) / VTEST


def read_video_frames(path: Path, indices: list[int] | None = None) -> list[Image]:
    """Frames of a video (all, or only ``indices``), BGR."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(f"cannot open video {path}")
    wanted = None if indices is None else set(indices)
    frames: list[Image] = []
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if wanted is None or i in wanted:
                frames.append(frame)
            i += 1
    finally:
        cap.release()
    if not frames:
        raise DataError(f"no frames read from {path}")
    return frames


@dataclass(frozen=True)
class Person:
    """A real pedestrian cut out of a training frame of vtest.avi: pixels, alpha (0..1) and height."""

    bgr: Image
    alpha: npt.NDArray[np.float32]


def extract_people(frames: list[Image], masks: list[npt.NDArray[np.bool_]], limit: int = 400) -> list[Person]:
    """Single pedestrians (tall foreground blobs) cut out of frames with their foreground masks."""
    people: list[Person] = []
    for frame, mask in zip(frames, masks, strict=True):
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
        for k in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[k])
            if area < 250 or not 1.6 <= h / max(w, 1) <= 4.5 or y + h >= frame.shape[0] - 1:
                continue
            alpha = (labels[y : y + h, x : x + w] == k).astype(np.float32)
            alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
            people.append(Person(frame[y : y + h, x : x + w].copy(), alpha))
            if len(people) >= limit:
                return people
    return people


class BackgroundPool:
    """Loads the backgrounds once and hands out random crops (deterministic given the rng)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        vtest_every: int = 4,
        photos: tuple[PhotoSpec, ...] = PHOTOS,
        vtest_share: float = 0.65,
        object_scale: float = 1.0,
    ) -> None:
        """``photos``, ``vtest_share`` and ``object_scale`` (a higher camera: < 1) are a domain's
        (:mod:`modeling.synth.domain`); the defaults are the training domain's."""
        self.root = data_dir(root)
        self.vtest_share = vtest_share
        self.object_scale = object_scale
        self.vtest = read_video_frames(self.root / VTEST, list(range(0, VTEST_TRAIN_FRAMES, vtest_every)))
        self.empty = median_background(self.vtest)
        self.masks = [foreground_mask(f, self.empty) for f in self.vtest]
        self.people = extract_people(self.vtest, self.masks)
        self.photos: list[tuple[PhotoSpec, Image]] = []
        for spec in photos:
            img = cv2.imread(str(self.root / spec.name))
            if img is not None:
                self.photos.append((spec, img))

    def sample(self, rng: np.random.Generator, size: tuple[int, int]) -> Background:
        """A background of ``size`` (w, h): a vtest frame (60 %) or a photo, randomly cropped/flipped."""
        w, h = size
        mask: npt.NDArray[np.bool_] | None = None
        if rng.random() < self.vtest_share or not self.photos:
            idx = int(rng.integers(len(self.vtest)))
            img, spec, src, mask = self.vtest[idx], VTEST_SPEC, f"{VTEST}#{idx}", self.masks[idx]
        else:
            spec, img = self.photos[int(rng.integers(len(self.photos)))]
            src = spec.name
        ih, iw = img.shape[:2]
        # crop 75-100 % of the image keeping the bottom (the ground) and the aspect ratio of `size`
        frac = float(rng.uniform(0.75, 1.0))
        ch = int(min(ih, iw * h / w) * frac)
        cw = int(ch * w / h)
        x0 = int(rng.integers(0, iw - cw + 1))
        y0 = int(rng.integers(max(0, ih - ch - int(0.1 * ih)), ih - ch + 1))
        crop = img[y0 : y0 + ch, x0 : x0 + cw]
        mcrop = None if mask is None else mask[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
            mcrop = None if mcrop is None else mcrop[:, ::-1]
        out = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
        occ = None
        if mcrop is not None:
            occ = cv2.resize(mcrop.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)

        # the ground model moves with the crop
        def remap(f: float) -> float:
            return float((f * ih - y0) / ch)

        new_spec = PhotoSpec(
            spec.name,
            horizon=remap(spec.horizon),
            person_h=spec.person_h * ih / ch * self.object_scale,
            ground_top=max(0.0, remap(spec.ground_top)),
        )
        return Background(np.ascontiguousarray(out), new_spec, src, occ)
