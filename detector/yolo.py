"""The YOLO ONNX contract: the only module that knows Ultralytics' export layouts.

- Metadata: ``names``, ``imgsz``, ``stride``, ``task`` and ``end2end`` are read from the model's
  metadata props, where Ultralytics writes Python literals (parsed with ``ast.literal_eval``, never
  ``eval``).
- Pre-processing: letterbox (aspect kept, centred, pad value 114; Ultralytics' rounding, so boxes map
  back exactly), BGR → RGB, 0..1, NCHW. The frame is resized straight into the padded canvas, split
  into planes by OpenCV and scaled in one pass into a reused input buffer.
- Rect inference (Ultralytics' default for a model with dynamic H/W): each frame is scaled as for the
  square ``imgsz`` input, but a batch is padded only to the smallest stride multiple that holds every
  frame (768x576 at 384 → 288x384, a quarter fewer pixels). Static-shape models stay square.
- Outputs: ``[B, 4+nc, A]`` (YOLOv8/11: cx, cy, w, h, then one score per class, no objectness; best
  class per anchor, class-aware NMS) and end-to-end ``[B, N, 6]`` (x1, y1, x2, y2, score, class; no
  NMS). Boxes come back in original-frame pixels, clipped to the frame.
- Execution providers (a name, or ``(name, provider options)``) are checked before the session is made
  (known to ONNX Runtime, in this build) and after: what was asked for must be in use, or
  :class:`ProviderError` (a warning only with ``allow_fallback``) — never a silent CPU fallback.
- Batches go to the session through :mod:`detector.yolo_binding` (IO binding on a CUDA device).
"""

from __future__ import annotations

import ast
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detector.detections import Detections
from detector.errors import ModelError, ProviderError
from detector.providers import ProviderArg, available_providers, provider_name
from detector.yolo_binding import batch_runner
from nce.bounds import LABEL_MAX, check_text
from nce.hashing import sha256_file

log = logging.getLogger(__name__)

PAD_VALUE = 114
MAX_NMS_CANDIDATES = 30000


@dataclass(frozen=True)
class Letterbox:
    """How one frame was fitted into the model input: ``input = frame * gain + (pad_x, pad_y)``."""

    gain: float
    pad_x: int
    pad_y: int
    frame_hw: tuple[int, int]

    def to_frame(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Model-input boxes → frame pixels, clipped to the frame."""
        out = xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] -= self.pad_x
        out[:, [1, 3]] -= self.pad_y
        out /= self.gain
        h, w = self.frame_hw
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
        return out


def letterbox(
    frame: npt.NDArray[np.uint8],
    size_hw: tuple[int, int],
    out: npt.NDArray[np.uint8] | None = None,
    *,
    gain: float | None = None,
) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Fit ``frame`` (H, W, 3) into ``size_hw`` keeping its aspect; pad with 114 around it.

    ``gain`` (default: the largest that fits) is the scale; rect inference passes the gain for the
    model's square ``imgsz`` so a frame is scaled exactly as Ultralytics does, into a smaller canvas.
    The frame is resized straight into its place in ``out``; only the borders are filled.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ModelError(f"expected a colour frame of shape (H, W, 3), got {frame.shape}")
    h, w = frame.shape[:2]
    th, tw = size_hw
    if gain is None:
        gain = min(th / h, tw / w)
    nw, nh = round(w * gain), round(h * gain)
    if nw > tw or nh > th:
        raise ModelError(f"a {w}x{h} frame scaled by {gain:.4g} is {nw}x{nh}: larger than {tw}x{th}")
    dw, dh = (tw - nw) / 2.0, (th - nh) / 2.0
    top, left = round(dh - 0.1), round(dw - 0.1)
    if out is None:
        out = np.empty((th, tw, 3), dtype=np.uint8)
    out[:top] = PAD_VALUE
    out[top + nh :] = PAD_VALUE
    out[top : top + nh, :left] = PAD_VALUE
    out[top : top + nh, left + nw :] = PAD_VALUE
    place = out[top : top + nh, left : left + nw]
    if (nw, nh) == (w, h):
        place[...] = frame
    else:
        resized = cv2.resize(frame, (nw, nh), dst=place, interpolation=cv2.INTER_LINEAR)
        if not np.shares_memory(resized, place):  # OpenCV could not write into the view
            place[...] = resized
    return out, Letterbox(gain=gain, pad_x=left, pad_y=top, frame_hw=(h, w))


def imgsz_gain(frame_hw: tuple[int, int], imgsz: tuple[int, int]) -> float:
    """The scale that fits a frame into the model's ``imgsz`` (its long side to it, for a square model)."""
    return min(imgsz[0] / frame_hw[0], imgsz[1] / frame_hw[1])


def rect_shape(frames_hw: Sequence[tuple[int, int]], imgsz: tuple[int, int], stride: int) -> tuple[int, int]:
    """The smallest input (h, w), in multiples of ``stride``, that holds every frame scaled as for ``imgsz``.

    Each frame is scaled by :func:`imgsz_gain` (its long side to ``imgsz`` for a square
    model), rounded as :func:`letterbox` rounds; for one frame this is Ultralytics' ``auto`` letterbox.
    """
    need_h = need_w = 1
    for h, w in frames_hw:
        g = imgsz_gain((h, w), imgsz)
        need_h, need_w = max(need_h, round(h * g)), max(need_w, round(w * g))
    return (math.ceil(need_h / stride) * stride, math.ceil(need_w / stride) * stride)


def parse_metadata_value(raw: str) -> Any:
    """An Ultralytics metadata value (a Python literal written with ``str()``), parsed safely."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return raw


def _labels(names: dict[int, str]) -> dict[int, str]:
    """The model's class names, each fit to be a hit's ``label`` (1-64 characters, no control
    characters), or :class:`ModelError` naming the one that is not."""
    for i, name in names.items():
        try:
            if not 1 <= len(name) <= LABEL_MAX:
                raise ValueError(f"expected 1-{LABEL_MAX} characters, got {len(name)}")
            check_text(name)
        except ValueError as exc:
            raise ModelError(f"model class {i} has an unusable name {name[:80]!r}: {exc}") from exc
    return names


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou: float) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression; indices kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself."""

    path: Path
    sha256: str
    names: dict[int, str]
    imgsz: tuple[int, int]
    stride: int
    task: str
    end2end: bool
    input_name: str
    input_dtype: str
    static_batch: int | None
    dynamic_hw: bool
    providers: tuple[str, ...]
    metadata: dict[str, str]

    @property
    def num_classes(self) -> int:
        return len(self.names)


def _session(
    path: Path, providers: Sequence[ProviderArg], intra_op_threads: int, inter_op_threads: int, fallback: bool
) -> Any:
    import onnxruntime as ort

    usable = available_providers(providers, fallback)
    options = ort.SessionOptions()
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    if inter_op_threads:
        options.inter_op_num_threads = inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # the pool's threads spin between operators by default: at a sample a second per camera they spin
    # longer than they compute (street-v1, one 1080p frame, 2 cores: 113 ms CPU spinning, 36 ms not)
    for spin in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        options.add_session_config_entry(spin, "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=usable)
    except Exception as exc:  # ONNX Runtime raises its own types from C++: translate them here
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "INVALID_PROTOBUF" in text or "Protobuf parsing failed" in text or "ModelProto" in text:
            raise ModelError(f"{path} is not an ONNX model (ONNX Runtime could not parse it)") from exc
        raise ModelError(f"{path}: ONNX Runtime could not load the model: {text}") from exc


def check_providers(asked: Sequence[str], in_use: Sequence[str], allow_fallback: bool) -> None:
    """Raise unless every provider asked for is in use (or warn loudly with ``allow_fallback``)."""
    missing = [p for p in asked if p not in in_use]
    if not missing:
        return
    import onnxruntime as ort

    message = (
        f"execution providers {missing} were asked for but are not in use (in use: {list(in_use)}; "
        f"this onnxruntime build offers {ort.get_available_providers()})"
    )
    if allow_fallback:
        log.warning("!!! %s — running anyway because allow_fallback is set", message)
        return
    raise ProviderError(message + "; install the matching onnxruntime build or set allow_fallback")


class YoloDetector:
    """An Ultralytics YOLO detect model exported to ONNX, run through ONNX Runtime.

    ``detect(frames)`` takes BGR frames of any sizes and returns one :class:`Detections` per frame.
    ``rect``: letterbox each batch to the smallest stride multiple instead of the square ``imgsz``
    (``None``: on when the model's input H/W are dynamic; ``True`` on a static model is an error).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[ProviderArg] = ("CPUExecutionProvider",),
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        allow_fallback: bool = False,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        rect: bool | None = None,
        cpu_batch: int = 1,
    ) -> None:
        p = Path(path)
        if not p.is_file():
            raise ModelError(f"model file {p} does not exist")
        if not 0.0 < conf <= 1.0 or not 0.0 < iou <= 1.0:
            raise ModelError(f"conf and iou must be in (0, 1], got conf={conf}, iou={iou}")
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.intra_op_threads = intra_op_threads
        # the CPU provider runs a batch this many images at a time (0: whole): it gains no speed from
        # batching (street-v1, 1080p frames, 2 cores: 32-41 ms an image at batch 1..8), while its
        # activations, kept after the largest batch, grow 12-16 MB per image: a camera each
        self.cpu_batch = cpu_batch
        self.session = _session(p, providers, intra_op_threads, inter_op_threads, allow_fallback)
        in_use = tuple(self.session.get_providers())
        check_providers([provider_name(a) for a in providers], in_use, allow_fallback)
        self.info = self._read_info(p, in_use)
        self.run_batch = batch_runner(self.session, self.info.input_name)  # IO binding on CUDA (yolo_binding)
        if rect and not self.info.dynamic_hw:
            raise ModelError(
                f"{p}: rect inference needs dynamic input height and width, but the model's input is "
                f"fixed at {self.info.imgsz[0]}x{self.info.imgsz[1]}; export it with dynamic=True"
            )
        self.rect = self.info.dynamic_hw if rect is None else rect
        self._buffers: dict[str, npt.NDArray[Any]] = {}

    # -- model description -------------------------------------------------------------------

    def _read_info(self, path: Path, in_use: tuple[str, ...]) -> ModelInfo:
        meta: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: expected one image input, got {len(inputs)}")
        inp = inputs[0]
        if len(inp.shape) != 4:
            raise ModelError(f"{path}: expected an NCHW image input, got shape {inp.shape}")
        task = str(parse_metadata_value(meta["task"])) if "task" in meta else "detect"
        if task != "detect":
            raise ModelError(f"{path} is a {task!r} model; NCE needs an Ultralytics 'detect' model")
        if len(outputs) != 1 or len(outputs[0].shape) != 3:
            shapes = [o.shape for o in outputs]
            raise ModelError(
                f"{path}: expected one detect output of rank 3 ([B, 4+nc, A] or [B, N, 6]), got {shapes}"
            )
        names = self._names(meta, outputs[0].shape)
        imgsz = self._imgsz(meta, inp.shape)
        end2end = bool(parse_metadata_value(meta.get("end2end", "False")) is True)
        out_shape = outputs[0].shape
        if not end2end and isinstance(out_shape[1], int) and out_shape[1] != 4 + len(names):
            if out_shape[2] == 6:
                end2end = True
            else:
                raise ModelError(
                    f"{path}: output shape {out_shape} matches neither [B, 4+{len(names)}, A] "
                    f"for {len(names)} classes nor end-to-end [B, N, 6]"
                )
        batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        return ModelInfo(
            path=path,
            sha256=sha256_file(path),
            names=names,
            imgsz=imgsz,
            stride=int(parse_metadata_value(meta.get("stride", "32")) or 32),
            task=task,
            end2end=end2end,
            input_name=inp.name,
            input_dtype="float16" if "float16" in inp.type else "float32",
            static_batch=batch,
            dynamic_hw=not (isinstance(inp.shape[2], int) and isinstance(inp.shape[3], int)),
            providers=in_use,
            metadata=meta,
        )

    @staticmethod
    def _names(meta: dict[str, str], out_shape: Sequence[Any]) -> dict[int, str]:
        if "names" in meta:
            raw = parse_metadata_value(meta["names"])
            if isinstance(raw, dict):
                return _labels({int(k): str(v) for k, v in raw.items()})
            if isinstance(raw, list | tuple):
                return _labels({i: str(v) for i, v in enumerate(raw)})
        if isinstance(out_shape[1], int) and out_shape[1] > 4 and out_shape[2] != 6:
            log.warning(
                "model has no 'names' metadata: classes are named class_0..class_%d", out_shape[1] - 5
            )
            return {i: f"class_{i}" for i in range(out_shape[1] - 4)}
        raise ModelError("model has no 'names' metadata and the class count cannot be read from its output")

    @staticmethod
    def _imgsz(meta: dict[str, str], in_shape: Sequence[Any]) -> tuple[int, int]:
        h, w = in_shape[2], in_shape[3]
        if isinstance(h, int) and isinstance(w, int):
            return (h, w)
        raw = parse_metadata_value(meta.get("imgsz", "[640, 640]"))
        if isinstance(raw, int):
            return (raw, raw)
        if isinstance(raw, list | tuple) and len(raw) == 2:
            return (int(raw[0]), int(raw[1]))
        raise ModelError(f"model metadata imgsz {meta.get('imgsz')!r} is not [h, w]")

    # -- running -----------------------------------------------------------------------------

    def input_hw(self, frames: Sequence[npt.NDArray[np.uint8]]) -> tuple[int, int]:
        """The model input (h, w) for this batch: ``imgsz``, or with ``rect`` the smallest that holds it."""
        if not self.rect:
            return self.info.imgsz
        return rect_shape([(f.shape[0], f.shape[1]) for f in frames], self.info.imgsz, self.info.stride)

    def _buffer(self, key: str, shape: tuple[int, ...], dtype: type[np.generic]) -> npt.NDArray[Any]:
        """A C-contiguous ``shape`` view of a reused flat buffer (grown when a batch needs more)."""
        size = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._buffers[key] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)

    def preprocess(
        self, frames: Sequence[npt.NDArray[np.uint8]], slot: int = 0
    ) -> tuple[npt.NDArray[np.float32], list[Letterbox]]:
        """Letterbox a batch into one NCHW float tensor: a view of buffer ``slot``, reused by the next
        call with the same slot (a caller with several batches in flight gives each its own slot)."""
        h, w = self.input_hw(frames)
        n = len(frames)
        dtype = np.float16 if self.info.input_dtype == "float16" else np.float32
        tensor = self._buffer(f"input{slot}", (n, 3, h, w), dtype)
        canvas = self._buffer("canvas", (h, w, 3), np.uint8)
        planes = self._buffer("planes", (3, h, w), np.uint8)
        scale = np.float32(1.0 / 255.0)
        boxes = []
        for i, frame in enumerate(frames):
            gain = imgsz_gain(frame.shape[:2], self.info.imgsz) if self.rect else None
            boxed, lb = letterbox(frame, (h, w), out=canvas, gain=gain)
            # BGR HWC uint8 → B, G, R planes (OpenCV), then RGB CHW float 0..1 in one contiguous pass
            split = cv2.split(boxed, [planes[0], planes[1], planes[2]])
            if not np.shares_memory(split[0], planes):  # OpenCV could not write into the buffer
                planes[...] = split
            np.multiply(planes[::-1], scale, out=tensor[i], dtype=np.float32)
            boxes.append(lb)
        return tensor, boxes  # type: ignore[return-value]

    def infer(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The session on a preprocessed batch (split to the model's static batch when it has one; on
        the CPU provider alone, run ``cpu_batch`` images at a time)."""
        static = self.info.static_batch
        step = static or (self.cpu_batch if self.info.providers == ("CPUExecutionProvider",) else 0)
        if not step or (step >= tensor.shape[0] and static in (None, tensor.shape[0])):
            return np.asarray(self.run_batch(tensor), dtype=np.float32)
        parts = []
        for start in range(0, tensor.shape[0], step):
            chunk = tensor[start : start + step]
            real = chunk.shape[0]
            if static is not None and real < static:
                chunk = np.concatenate([chunk, np.zeros((static - real, *chunk.shape[1:]), chunk.dtype)])
            parts.append(np.asarray(self.run_batch(chunk), dtype=np.float32)[:real])
        return np.concatenate(parts)

    def postprocess(self, raw: npt.NDArray[np.float32], boxes: Sequence[Letterbox]) -> list[Detections]:
        """Decode a raw output batch into per-frame detections in frame pixels."""
        decode = self._decode_end2end if self.info.end2end else self._decode_v8
        return [decode(raw[i], boxes[i]) for i in range(len(boxes))]

    def detect(self, frames: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        if not frames:
            return []
        tensor, boxes = self.preprocess(frames)
        return self.postprocess(self.infer(tensor), boxes)

    def _decode_v8(self, out: npt.NDArray[np.float32], lb: Letterbox) -> Detections:
        # out: [4+nc, A]
        # best class per anchor: max over the class rows (contiguous), argmax only where it passes
        scores_all = out[4:]
        score = scores_all.max(axis=0)
        keep = score > self.conf
        if not keep.any():
            return Detections.empty()
        score, class_id = score[keep], scores_all[:, keep].argmax(axis=0)
        cxcywh = out[:4, keep].T
        if score.shape[0] > MAX_NMS_CANDIDATES:
            top = np.argsort(-score)[:MAX_NMS_CANDIDATES]
            score, class_id, cxcywh = score[top], class_id[top], cxcywh[top]
        xyxy = np.empty_like(cxcywh)
        xyxy[:, :2] = cxcywh[:, :2] - cxcywh[:, 2:] / 2
        xyxy[:, 2:] = cxcywh[:, :2] + cxcywh[:, 2:] / 2
        # class-aware NMS: shift each class to its own region so boxes of different classes never overlap
        offset = class_id[:, None].astype(np.float32) * (max(self.info.imgsz) * 4.0)
        kept = nms(xyxy + offset, score, self.iou)[: self.max_det]
        return Detections(xyxy=lb.to_frame(xyxy[kept]), confidence=score[kept], class_id=class_id[kept])

    def _decode_end2end(self, out: npt.NDArray[np.float32], lb: Letterbox) -> Detections:
        # out: [N, 6] = x1, y1, x2, y2, score, class
        keep = out[:, 4] > self.conf
        rows = out[keep][: self.max_det]
        return Detections(
            xyxy=lb.to_frame(rows[:, :4]), confidence=rows[:, 4], class_id=rows[:, 5].astype(np.int64)
        )
