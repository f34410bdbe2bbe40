"""Small ONNX graphs with known outputs, built with onnx.helper, for tests of the YOLO contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    meta: dict[str, str] = {"stride": "32", "imgsz": str([h, w])}
    if names is not None:
        meta["names"] = str(names)
    if task is not None:
        meta["task"] = task
    if end2end is not None:
        meta["end2end"] = str(end2end)
    meta.update(extra_meta or {})
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


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
