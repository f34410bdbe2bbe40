"""Broken variants of a working ONNX detect model, made with the onnx package, for rollout tests:
one that floods detections and one that raises on every batch."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _rewired(src: Path) -> tuple[onnx.ModelProto, str, list[int | str]]:
    """The model with its output renamed ``orig`` (the caller adds nodes that make ``output0``)."""
    model = onnx.load(str(src))
    graph = model.graph
    out = graph.output[0]
    for node in graph.node:
        node.output[:] = ["orig" if o == out.name else o for o in node.output]
    dims: list[int | str] = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    return model, out.name, dims


def flooding_model(src: Path, dst: Path, extra: int = 60) -> Path:
    """``src`` with many confident boxes added to every frame's output: end-to-end ``[B, N, 6]``
    models get ``extra`` more rows scored 0.99 (spread over the frame); YOLOv8 ``[B, 4+nc, A]`` models
    get every class score raised by 1 (every anchor a detection, up to max_det)."""
    model, name, dims = _rewired(src)
    g = model.graph
    if dims[-1] == 6:  # end-to-end
        rows = np.zeros((1, extra, 6), dtype=np.float32)
        for i in range(extra):
            x, y = 4.0 * (i % 10), 6.0 * (i // 10)
            rows[0, i] = (x, y, x + 30.0, y + 30.0, 0.99, float(i % 2))
        g.initializer.extend(
            [
                numpy_helper.from_array(rows, name="flood"),
                numpy_helper.from_array(np.array([extra, 6], dtype=np.int64), name="flood_tail"),
                numpy_helper.from_array(np.array([0], dtype=np.int64), name="i0"),
                numpy_helper.from_array(np.array([1], dtype=np.int64), name="i1"),
            ]
        )
        g.node.extend(
            [
                helper.make_node("Shape", ["orig"], ["orig_shape"]),
                helper.make_node("Slice", ["orig_shape", "i0", "i1"], ["batch_dim"]),
                helper.make_node("Concat", ["batch_dim", "flood_tail"], ["flood_shape"], axis=0),
                helper.make_node("Expand", ["flood", "flood_shape"], ["flood_b"]),
                helper.make_node("Concat", ["orig", "flood_b"], [name], axis=1),
            ]
        )
        g.output[0].type.tensor_type.shape.dim[1].ClearField("dim_value")
        g.output[0].type.tensor_type.shape.dim[1].dim_param = "rows"
    else:  # [B, 4 + nc, A]
        meta = {p.key: p.value for p in model.metadata_props}
        channels = 4 + len(ast.literal_eval(meta["names"]))
        bump = np.zeros((1, channels, 1), dtype=np.float32)
        bump[0, 4:, 0] = 1.0
        g.initializer.append(numpy_helper.from_array(bump, name="bump"))
        g.node.append(helper.make_node("Add", ["orig", "bump"], [name]))
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


def raising_model(src: Path, dst: Path) -> Path:
    """``src`` whose output goes through a Reshape that cannot succeed: every run raises."""
    model, name, _ = _rewired(src)
    g = model.graph
    g.initializer.append(numpy_helper.from_array(np.array([-1, 7, 13], dtype=np.int64), name="bad_shape"))
    g.node.append(helper.make_node("Reshape", ["orig", "bad_shape"], [name]))
    dim = g.output[0].type.tensor_type.shape.dim
    dim[1].ClearField("dim_param")
    dim[1].dim_value, dim[2].dim_value = 7, 13  # a plausible YOLOv8 layout for three classes
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst
