"""Small ONNX graphs with known outputs, built with onnx.helper, for tests of the YOLO contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

T = TypeVar("T", bound=Callable[..., Any])

# Tests that a missing CUDA provider is refused need one that is missing: where onnxruntime has it
# (a GPU build), they skip, anywhere, CI included (see tests.support.real_parts).
CUDA_PRESENT = "a CUDA provider is present"
WITHOUT_CUDA = [
    pytest.mark.skipif(
        "CUDAExecutionProvider" in ort.get_available_providers(),
        reason=f"{CUDA_PRESENT}: this test needs it missing",
    ),
    pytest.mark.optional(CUDA_PRESENT),
]


def without_cuda(test: T) -> T:
    """Mark ``test`` with :data:`WITHOUT_CUDA` (a parametrized case takes ``marks=WITHOUT_CUDA``)."""
    for mark in WITHOUT_CUDA:
        test = mark(test)
    return test


def save_graph_model(graph: onnx.GraphProto, path: Path, meta: dict[str, str]) -> Path:
    """An opset-13 model of ``graph`` with ``meta`` as its metadata props, checked and saved."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def constant_output_model(
    path: Path,
    raw: np.ndarray,
    *,
    imgsz: tuple[int, int],
    names: dict[int, str] | None,
    end2end: bool | None = None,
    task: str | None = "detect",
    batch: int | str = "batch",
    extra_meta: dict[str, str] | None = None,
) -> Path:
    """A model whose output is ``raw`` (shape [1, C, A] or [1, N, 6]) for every image in the batch."""
    h, w = imgsz
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, h, w])
    out_dims: list[Any] = [batch, *raw.shape[1:]]
    output = helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_dims)
    const = numpy_helper.from_array(raw.astype(np.float32), name="raw")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], keepdims=1, axes=[1, 2, 3]),
        helper.make_node("Squeeze", ["mean4", "sq_axes"], ["mean1"]),
        helper.make_node("Unsqueeze", ["mean1", "unsq_axes"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "raw"], ["output0"]),
    ]
    inits = [
        const,
        numpy_helper.from_array(np.array([2, 3], dtype=np.int64), name="sq_axes"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), name="unsq_axes"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), name="zero"),
    ]
    graph = helper.make_graph(nodes, "const_yolo", [images], [output], initializer=inits)
    meta: dict[str, str] = {"stride": "32", "imgsz": str([h, w])}
    if names is not None:
        meta["names"] = str(names)
    if task is not None:
        meta["task"] = task
    if end2end is not None:
        meta["end2end"] = str(end2end)
    meta.update(extra_meta or {})
    return save_graph_model(graph, path, meta)


def v8_raw(anchors: list[tuple[float, float, float, float, int, float]], nc: int) -> np.ndarray:
    """[1, 4+nc, A] from (cx, cy, w, h, class, score) rows in model-input pixels."""
    raw = np.zeros((1, 4 + nc, max(len(anchors), 1)), dtype=np.float32)
    for i, (cx, cy, bw, bh, cls, score) in enumerate(anchors):
        raw[0, :4, i] = (cx, cy, bw, bh)
        raw[0, 4 + cls, i] = score
    return raw


def e2e_raw(rows: list[tuple[float, float, float, float, float, int]], n: int = 10) -> np.ndarray:
    """[1, N, 6] from (x1, y1, x2, y2, score, class) rows; remaining rows are zero."""
    raw = np.zeros((1, n, 6), dtype=np.float32)
    for i, row in enumerate(rows):
        raw[0, i] = row
    return raw


# RGB channel of each colour: the patch is bright in that channel and dark in the other two
COLOUR_CHANNELS = {"red": 0, "green": 1, "blue": 2}


def colour_patch_model(
    path: Path,
    *,
    names: dict[int, str],
    colours: dict[int, str],
    imgsz: tuple[int, int] = (192, 256),
    score: float = 0.9,
    high: float = 0.55,
    low: float = 0.35,
) -> Path:
    """An end-to-end ``[B, nc, 6]`` model whose output follows the frame.

    Class ``k`` is found where the input (RGB, 0..1) has colour ``colours[k]`` ("red", "green",
    "blue": that channel > ``high``, the other two < ``low``): row ``k`` is the bounding box of those
    pixels (model-input pixels), ``score`` when there are any (else 0) and class ``k``.
    """
    h, w = imgsz
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, h, w])
    output = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", len(colours), 6])
    inits = [
        numpy_helper.from_array(np.arange(w, dtype=np.float32), name="xs"),
        numpy_helper.from_array(np.arange(1, w + 1, dtype=np.float32), name="xs1"),
        numpy_helper.from_array(np.arange(h, dtype=np.float32), name="ys"),
        numpy_helper.from_array(np.arange(1, h + 1, dtype=np.float32), name="ys1"),
        numpy_helper.from_array(np.array(1e6, dtype=np.float32), name="big"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), name="one"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), name="zero"),
        numpy_helper.from_array(np.array(score, dtype=np.float32), name="score"),
        numpy_helper.from_array(np.array(high, dtype=np.float32), name="high"),
        numpy_helper.from_array(np.array(low, dtype=np.float32), name="low"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), name="axis1"),
    ]
    nodes = []
    for c in range(3):
        inits.append(numpy_helper.from_array(np.array(c, dtype=np.int64), name=f"ch{c}"))
        nodes.append(helper.make_node("Gather", ["images", f"ch{c}"], [f"x{c}"], axis=1))
    rows = []
    for k, colour in sorted(colours.items()):
        hi = COLOUR_CHANNELS[colour]
        lo = [c for c in range(3) if c != hi]
        p = f"k{k}_"
        nodes += [
            helper.make_node("Greater", [f"x{hi}", "high"], [p + "hi"]),
            helper.make_node("Less", [f"x{lo[0]}", "low"], [p + "lo0"]),
            helper.make_node("Less", [f"x{lo[1]}", "low"], [p + "lo1"]),
            helper.make_node("And", [p + "hi", p + "lo0"], [p + "m01"]),
            helper.make_node("And", [p + "m01", p + "lo1"], [p + "mb"]),
            helper.make_node("Cast", [p + "mb"], [p + "m"], to=TensorProto.FLOAT),  # [B, H, W]
            helper.make_node("ReduceMax", [p + "m"], [p + "cols"], axes=[1], keepdims=0),  # [B, W]
            helper.make_node("ReduceMax", [p + "m"], [p + "rows"], axes=[2], keepdims=0),  # [B, H]
            helper.make_node("ReduceMax", [p + "cols"], [p + "present"], axes=[1], keepdims=1),
        ]
        for axis_name, flags, first, last in (("x", "cols", "xs", "xs1"), ("y", "rows", "ys", "ys1")):
            q = p + axis_name
            nodes += [
                # first index: min over (flag ? i : big); last: max over (flag ? i + 1 : 0)
                helper.make_node("Sub", ["one", p + flags], [q + "_not"]),
                helper.make_node("Mul", [q + "_not", "big"], [q + "_far"]),
                helper.make_node("Mul", [p + flags, first], [q + "_at"]),
                helper.make_node("Add", [q + "_at", q + "_far"], [q + "_cand"]),
                helper.make_node("ReduceMin", [q + "_cand"], [q + "_min"], axes=[1], keepdims=1),
                helper.make_node("Mul", [q + "_min", p + "present"], [q + "1"]),
                helper.make_node("Mul", [p + flags, last], [q + "_end"]),
                helper.make_node("ReduceMax", [q + "_end"], [q + "2"], axes=[1], keepdims=1),
            ]
        inits.append(numpy_helper.from_array(np.array(float(k), dtype=np.float32), name=p + "cls"))
        nodes += [
            helper.make_node("Mul", [p + "present", "score"], [p + "score"]),
            helper.make_node("Mul", [p + "present", "zero"], [p + "zeros"]),
            helper.make_node("Add", [p + "zeros", p + "cls"], [p + "class"]),
            helper.make_node(
                "Concat",
                [p + "x1", p + "y1", p + "x2", p + "y2", p + "score", p + "class"],
                [p + "row"],
                axis=1,
            ),
            helper.make_node("Unsqueeze", [p + "row", "axis1"], [p + "row3"]),
        ]
        rows.append(p + "row3")
    nodes.append(helper.make_node("Concat", rows, ["output0"], axis=1))
    graph = helper.make_graph(nodes, "colour_patch_yolo", [images], [output], initializer=inits)
    meta = {
        "names": str(names),
        "imgsz": str([h, w]),
        "stride": "32",
        "task": "detect",
        "end2end": "True",
        "description": "colour patch finder for tests",
    }
    return save_graph_model(graph, path, meta)
