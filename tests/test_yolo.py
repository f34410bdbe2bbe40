"""The YOLO ONNX contract, through real ONNX Runtime sessions on hand-built graphs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from detector.config import load_site_config
from detector.errors import ModelError, ProviderError
from detector.model_setup import detector_from_config
from detector.yolo import YoloDetector, letterbox, nms, parse_metadata_value, rect_shape
from tests.support.onnx_models import constant_output_model, e2e_raw, save_graph_model, v8_raw, without_cuda

NAMES = {0: "横幅", 1: "stall", 2: "garbage"}
IMGSZ = (256, 320)  # h, w: deliberately not 640 and not square


def frame(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), 40, dtype=np.uint8)


@pytest.fixture
def v8_model(tmp_path: Path) -> Path:
    raw = v8_raw(
        [
            (100, 58, 40, 20, 0, 0.9),  # box A, class 0
            (102, 59, 40, 20, 0, 0.8),  # overlaps A, same class → suppressed
            (101, 58, 40, 20, 1, 0.7),  # overlaps A, other class → kept
            (200, 150, 20, 20, 2, 0.2),  # below conf 0.25
        ],
        nc=3,
    )
    return constant_output_model(tmp_path / "v8.onnx", raw, imgsz=IMGSZ, names=NAMES)


def expected_box(xyxy_in: tuple[float, float, float, float], fh: int, fw: int) -> list[float]:
    gain = min(IMGSZ[0] / fh, IMGSZ[1] / fw)
    pad_x = round((IMGSZ[1] - round(fw * gain)) / 2 - 0.1)
    pad_y = round((IMGSZ[0] - round(fh * gain)) / 2 - 0.1)
    x1, y1, x2, y2 = xyxy_in
    return [
        min(max((x1 - pad_x) / gain, 0), fw),
        min(max((y1 - pad_y) / gain, 0), fh),
        min(max((x2 - pad_x) / gain, 0), fw),
        min(max((y2 - pad_y) / gain, 0), fh),
    ]


def test_metadata_is_read(v8_model: Path) -> None:
    det = YoloDetector(v8_model)
    assert det.info.names == NAMES
    assert det.info.imgsz == IMGSZ
    assert det.info.stride == 32
    assert det.info.task == "detect"
    assert det.info.end2end is False
    assert det.info.providers == ("CPUExecutionProvider",)
    assert len(det.info.sha256) == 64


@pytest.mark.parametrize(("fh", "fw"), [(480, 640), (600, 300), (256, 320), (1080, 1920)])
def test_v8_boxes_unletterboxed_and_nms_class_aware(v8_model: Path, fh: int, fw: int) -> None:
    det = YoloDetector(v8_model, conf=0.25, iou=0.45)
    out = det.detect([frame(fh, fw)])[0]
    assert len(out) == 2, "same-class overlap suppressed, cross-class overlap kept, low score dropped"
    assert out.class_id.tolist() == [0, 1]
    np.testing.assert_allclose(out.confidence, [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(out.xyxy[0], expected_box((80, 48, 120, 68), fh, fw), atol=1e-3)
    np.testing.assert_allclose(out.xyxy[1], expected_box((81, 48, 121, 68), fh, fw), atol=1e-3)
    assert out.xyxy.dtype == np.float32


def test_thresholds(v8_model: Path) -> None:
    assert len(YoloDetector(v8_model, conf=0.1).detect([frame(480, 640)])[0]) == 3
    assert len(YoloDetector(v8_model, conf=0.85).detect([frame(480, 640)])[0]) == 1
    # a high IoU threshold keeps the same-class overlap too
    assert len(YoloDetector(v8_model, conf=0.25, iou=0.95).detect([frame(480, 640)])[0]) == 3


def test_batch_of_different_sizes(v8_model: Path) -> None:
    det = YoloDetector(v8_model)
    sizes = [(480, 640), (600, 300), (720, 1280)]
    outs = det.detect([frame(h, w) for h, w in sizes])
    assert len(outs) == 3
    for (fh, fw), out in zip(sizes, outs, strict=True):
        np.testing.assert_allclose(out.xyxy[0], expected_box((80, 48, 120, 68), fh, fw), atol=1e-3)
    assert det.detect([]) == []


def test_static_batch_model_is_split(tmp_path: Path) -> None:
    raw = v8_raw([(100, 58, 40, 20, 0, 0.9)], nc=3)
    path = constant_output_model(tmp_path / "b1.onnx", raw, imgsz=IMGSZ, names=NAMES, batch=1)
    det = YoloDetector(path)
    assert det.info.static_batch == 1
    outs = det.detect([frame(480, 640)] * 3)
    assert [len(o) for o in outs] == [1, 1, 1]


def test_end2end_layout(tmp_path: Path) -> None:
    raw = e2e_raw([(80, 48, 120, 68, 0.9, 2), (10, 10, 30, 30, 0.3, 1), (0, 0, 5, 5, 0.1, 0)])
    path = constant_output_model(tmp_path / "e2e.onnx", raw, imgsz=IMGSZ, names=NAMES, end2end=True)
    det = YoloDetector(path, conf=0.25)
    assert det.info.end2end is True
    out = det.detect([frame(600, 300)])[0]
    assert out.class_id.tolist() == [2, 1]
    np.testing.assert_allclose(out.xyxy[0], expected_box((80, 48, 120, 68), 600, 300), atol=1e-3)


def test_end2end_detected_from_shape_without_metadata(tmp_path: Path) -> None:
    raw = e2e_raw([(80, 48, 120, 68, 0.9, 2)])
    path = constant_output_model(tmp_path / "e2e.onnx", raw, imgsz=IMGSZ, names=NAMES, end2end=None)
    assert YoloDetector(path).info.end2end is True


def test_boxes_clipped_to_frame(tmp_path: Path) -> None:
    raw = v8_raw([(5, 5, 40, 40, 1, 0.9)], nc=3)
    path = constant_output_model(tmp_path / "edge.onnx", raw, imgsz=IMGSZ, names=NAMES)
    out = YoloDetector(path).detect([frame(256, 320)])[0]
    assert out.xyxy[0].tolist() == [0.0, 0.0, 25.0, 25.0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.onnx", "does not exist"),
        (lambda p: (p / "text.onnx").write_text("not a model") and p / "text.onnx", "not an ONNX model"),
    ],
)
def test_bad_model_files(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match=message):
        YoloDetector(make(tmp_path))


def test_not_a_detect_model(tmp_path: Path) -> None:
    raw = v8_raw([(100, 58, 40, 20, 0, 0.9)], nc=3)
    path = constant_output_model(tmp_path / "seg.onnx", raw, imgsz=IMGSZ, names=NAMES, task="segment")
    with pytest.raises(ModelError, match="'segment' model"):
        YoloDetector(path)


def test_output_that_matches_no_layout(tmp_path: Path) -> None:
    raw = np.zeros((1, 9, 50), dtype=np.float32)  # 4+5 channels but the names say 3 classes
    path = constant_output_model(tmp_path / "odd.onnx", raw, imgsz=IMGSZ, names=NAMES)
    with pytest.raises(ModelError, match="matches neither"):
        YoloDetector(path)


@without_cuda
def test_missing_provider_is_an_error_not_a_silent_fallback(v8_model: Path) -> None:
    with pytest.raises(ProviderError, match="CUDAExecutionProvider"):
        YoloDetector(v8_model, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


@without_cuda
def test_missing_provider_allowed_fallback_warns(v8_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    det = YoloDetector(
        v8_model, providers=["CUDAExecutionProvider", "CPUExecutionProvider"], allow_fallback=True
    )
    assert det.info.providers == ("CPUExecutionProvider",)
    assert "not in use" in caplog.text


def test_letterbox_pads_with_114_and_keeps_aspect() -> None:
    img = np.zeros((100, 200, 3), dtype=np.uint8)
    out, lb = letterbox(img, (64, 64))
    assert out.shape == (64, 64, 3)
    assert lb.gain == pytest.approx(0.32)
    assert (lb.pad_x, lb.pad_y) == (0, 16)
    assert (out[:16] == 114).all() and (out[48:] == 114).all() and (out[16:48] == 0).all()


def test_nms_table() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.5, 0.9, 0.7], dtype=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.9).tolist() == [1, 2, 0]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("{0: 'person', 1: '横幅'}", {0: "person", 1: "横幅"}),
        ("[640, 640]", [640, 640]),
        ("True", True),
        ("32", 32),
        ("__import__('os').system('true')", "__import__('os').system('true')"),  # never evaluated
        ("detect", "detect"),
    ],
)
def test_metadata_literals_parsed_safely(raw: str, value: object) -> None:
    assert parse_metadata_value(raw) == value


# -- rect inference and the letterbox geometry ---------------------------------------------------

SQUARE = (384, 384)
RED_BGR = (0, 0, 255)


def edited(path: Path, *, dynamic_hw: bool = False, float16: bool = False) -> Path:
    """A factory model made dynamic in H/W (as ``export(dynamic=True)``) and/or taking float16 input."""
    model = onnx.load(str(path))
    images = model.graph.input[0].type.tensor_type
    if dynamic_hw:
        images.shape.dim[2].dim_param = "height"
        images.shape.dim[3].dim_param = "width"
    if float16:
        images.elem_type = TensorProto.FLOAT16
        for node in model.graph.node:
            node.input[:] = ["images_f32" if name == "images" else name for name in node.input]
        model.graph.node.insert(0, helper.make_node("Cast", ["images"], ["images_f32"], to=TensorProto.FLOAT))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def red_box_model(path: Path, *, imgsz: tuple[int, int] = SQUARE, dynamic_hw: bool = True) -> Path:
    """A ``[B, 4+3, A]`` model that finds the red pixels of its input (R > 0.6): every anchor holds
    their box (cx, cy, w, h, model-input pixels) with class 1 at 0.9 (0 when there are none).

    The anchor count follows the input like a real YOLO's (one per 32x32 cell), so decoding is
    exercised with a different ``A`` for every input shape.
    """
    h, w = imgsz
    dims: list[int | str] = ["height", "width"] if dynamic_hw else [h, w]
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, *dims])
    output = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 7, "anchors"])

    def const(name: str, value: object, dtype: type = np.float32) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(value, dtype=dtype), name=name)

    inits = [
        const("zero", 0.0),
        const("one", 1.0),
        const("half", 0.5),
        const("big", 1e6),
        const("thr", 0.6),
        const("score", 0.9),
        const("ch0", 0, np.int64),
        const("dim_h", 2, np.int64),
        const("dim_w", 3, np.int64),
        const("flat", [0, 1, -1], np.int64),
        const("axis2", [2], np.int64),
    ]
    node = helper.make_node
    nodes = [
        node("Gather", ["images", "ch0"], ["r"], axis=1),  # [B, H, W]
        node("Greater", ["r", "thr"], ["mask_b"]),
        node("Cast", ["mask_b"], ["mask"], to=TensorProto.FLOAT),
        node("ReduceMax", ["mask"], ["cols"], axes=[1], keepdims=0),  # [B, W]
        node("ReduceMax", ["mask"], ["rows"], axes=[2], keepdims=0),  # [B, H]
        node("ReduceMax", ["cols"], ["present"], axes=[1], keepdims=1),  # [B, 1]
        node("Shape", ["images"], ["shape"]),
    ]
    for axis, flags, dim in (("x", "cols", "dim_w"), ("y", "rows", "dim_h")):
        nodes += [
            node("Gather", ["shape", dim], [axis + "_n_i"], axis=0),
            node("Cast", [axis + "_n_i"], [axis + "_n"], to=TensorProto.FLOAT),
            node("Range", ["zero", axis + "_n", "one"], [axis + "_i"]),  # 0 .. n-1
            node("Add", [axis + "_i", "one"], [axis + "_i1"]),
            # first flagged index: min over (flag ? i : big); one past the last: max over flag * (i + 1)
            node("Sub", ["one", flags], [axis + "_not"]),
            node("Mul", [axis + "_not", "big"], [axis + "_far"]),
            node("Mul", [flags, axis + "_i"], [axis + "_at"]),
            node("Add", [axis + "_at", axis + "_far"], [axis + "_cand"]),
            node("ReduceMin", [axis + "_cand"], [axis + "_lo"], axes=[1], keepdims=1),
            node("Mul", [flags, axis + "_i1"], [axis + "_end"]),
            node("ReduceMax", [axis + "_end"], [axis + "_hi"], axes=[1], keepdims=1),
            node("Add", [axis + "_lo", axis + "_hi"], [axis + "_sum"]),
            node("Mul", [axis + "_sum", "half"], [axis + "_c"]),
            node("Sub", [axis + "_hi", axis + "_lo"], [axis + "_len"]),
        ]
    nodes += [
        node("Concat", ["x_c", "y_c", "x_len", "y_len"], ["box2"], axis=1),  # [B, 4]
        node("Unsqueeze", ["box2", "axis2"], ["box"]),  # [B, 4, 1]
        node("AveragePool", ["images"], ["cells"], kernel_shape=[32, 32], strides=[32, 32]),
        node("ReduceMean", ["cells"], ["cell1"], axes=[1], keepdims=1),  # [B, 1, H/32, W/32]
        node("Reshape", ["cell1", "flat"], ["cellf"]),  # [B, 1, A]
        node("Mul", ["cellf", "zero"], ["zeros"]),
        node("Add", ["zeros", "one"], ["ones"]),
        node("Mul", ["box", "ones"], ["boxes"]),  # [B, 4, A]
        node("Mul", ["present", "score"], ["score2"]),
        node("Unsqueeze", ["score2", "axis2"], ["score3"]),
        node("Mul", ["score3", "ones"], ["scores"]),  # [B, 1, A]
        node("Concat", ["boxes", "zeros", "scores", "zeros"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(nodes, "red_box_yolo", [images], [output], initializer=inits)
    meta = {"names": str(NAMES), "imgsz": str([h, w]), "stride": "32", "task": "detect"}
    return save_graph_model(graph, path, meta)


def red_patch_frame(fh: int, fw: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A grey frame with a red rectangle; the rectangle's xyxy in frame pixels."""
    img = frame(fh, fw)
    x1, y1, x2, y2 = fw // 4, fh // 3, fw // 4 + max(fw // 3, 1), fh // 3 + max(fh // 4, 1)
    img[y1:y2, x1:x2] = RED_BGR
    return img, (float(x1), float(y1), float(x2), float(y2))


# frame (h, w) → rect input (h, w), pad_x, pad_y at imgsz 384, stride 32 (worked by hand from
# Ultralytics' LetterBox: gain = 384 / long side, new = round(side * gain), pad = round(d / 2 - 0.1))
RECT_TABLE = [
    ((576, 768), (288, 384), 0, 0),  # vtest.avi, 4:3: a quarter fewer pixels
    ((480, 640), (288, 384), 0, 0),
    ((720, 1280), (224, 384), 0, 4),  # 16:9: 216 rows → 224, 8 to pad
    ((1080, 1920), (224, 384), 0, 4),
    ((768, 576), (384, 288), 0, 0),  # portrait
    ((600, 300), (384, 192), 0, 0),
    ((500, 700), (288, 384), 0, 7),  # 274.3 → 274 rows → 288: 14 to pad
    ((333, 777), (192, 384), 0, 13),  # 164.6 → 165 → 192: 27 to pad, 13 above (round(13.4))
    ((100, 1000), (64, 384), 0, 13),  # 38 rows → 64: 26 to pad, 13 above (round(12.9))
    ((385, 383), (384, 384), 1, 0),  # 382 columns → 384: one each side
    ((384, 384), (384, 384), 0, 0),  # no resize at all
    ((50, 60), (320, 384), 0, 0),  # scaled up
]


@pytest.mark.parametrize(("frame_hw", "input_hw", "pad_x", "pad_y"), RECT_TABLE)
def test_rect_geometry_maps_boxes_back_exactly(
    tmp_path: Path, frame_hw: tuple[int, int], input_hw: tuple[int, int], pad_x: int, pad_y: int
) -> None:
    raw = v8_raw([(100, 40, 40, 20, 0, 0.9)], nc=3)  # xyxy 80, 30, 120, 50 in model-input pixels
    path = edited(
        constant_output_model(tmp_path / "dyn.onnx", raw, imgsz=SQUARE, names=NAMES), dynamic_hw=True
    )
    det = YoloDetector(path)
    assert det.info.dynamic_hw and det.rect
    fh, fw = frame_hw
    tensor, (lb,) = det.preprocess([frame(fh, fw)])
    assert tensor.shape == (1, 3, *input_hw)
    gain = min(384 / fh, 384 / fw)
    assert (lb.gain, lb.pad_x, lb.pad_y) == (gain, pad_x, pad_y)
    # the frame sits at the pad offset; 114 around it
    nh, nw = round(fh * gain), round(fw * gain)
    content = np.zeros(input_hw, bool)
    content[pad_y : pad_y + nh, pad_x : pad_x + nw] = True
    np.testing.assert_array_equal(tensor[0, :, content], np.float32(40) * np.float32(1 / 255))
    np.testing.assert_array_equal(tensor[0, :, ~content], np.float32(114) * np.float32(1 / 255))
    out = det.detect([frame(fh, fw)])[0]
    expected = [
        min(max((80 - pad_x) / gain, 0), fw),
        min(max((30 - pad_y) / gain, 0), fh),
        min(max((120 - pad_x) / gain, 0), fw),
        min(max((50 - pad_y) / gain, 0), fh),
    ]
    np.testing.assert_allclose(out.xyxy[0], expected, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize(("frame_hw", "input_hw", "pad_x", "pad_y"), RECT_TABLE)
@pytest.mark.parametrize("rect", [True, False])
def test_a_drawn_box_is_found_where_it_was_drawn(
    tmp_path: Path,
    frame_hw: tuple[int, int],
    input_hw: tuple[int, int],
    pad_x: int,
    pad_y: int,
    rect: bool,
) -> None:
    det = YoloDetector(red_box_model(tmp_path / "red.onnx"), rect=rect)
    img, truth = red_patch_frame(*frame_hw)
    tensor, _ = det.preprocess([img])
    assert tensor.shape[2:] == (input_hw if rect else SQUARE)
    out = det.detect([img])[0]
    assert out.class_id.tolist() == [1], "one box from all anchors after NMS"
    gain = min(384 / frame_hw[0], 384 / frame_hw[1])
    # the resized edge may fall one model-input pixel either way
    np.testing.assert_allclose(out.xyxy[0], truth, atol=1 / gain + 1e-3)


@pytest.mark.parametrize(
    ("sizes", "input_hw"),
    [
        ([(576, 768), (720, 1280), (100, 1000)], (288, 384)),  # all landscape: the tallest sets it
        ([(576, 768), (768, 576)], (384, 384)),  # landscape + portrait: back to square
        ([(600, 300), (768, 576)], (384, 288)),  # both portrait: the widest sets it
        ([(576, 768)] * 3, (288, 384)),
    ],
)
def test_rect_batch_of_different_aspect_ratios(
    tmp_path: Path, sizes: list[tuple[int, int]], input_hw: tuple[int, int]
) -> None:
    det = YoloDetector(red_box_model(tmp_path / "red.onnx"))
    frames, truths = zip(*(red_patch_frame(h, w) for h, w in sizes), strict=True)
    tensor, boxes = det.preprocess(list(frames))
    assert tensor.shape == (len(sizes), 3, *input_hw)
    for (fh, fw), lb in zip(sizes, boxes, strict=True):
        assert lb.gain == min(384 / fh, 384 / fw), "each frame scaled as for the square input"
    outs = det.detect(list(frames))
    for (fh, fw), truth, out in zip(sizes, truths, outs, strict=True):
        assert out.class_id.tolist() == [1]
        np.testing.assert_allclose(out.xyxy[0], truth, atol=max(fh, fw) / 384 + 1e-3)


def test_static_model_stays_square_and_refuses_rect(tmp_path: Path) -> None:
    det = YoloDetector(red_box_model(tmp_path / "static.onnx", dynamic_hw=False))
    assert not det.info.dynamic_hw and not det.rect
    img, truth = red_patch_frame(576, 768)
    assert det.preprocess([img])[0].shape == (1, 3, 384, 384)
    np.testing.assert_allclose(det.detect([img])[0].xyxy[0], truth, atol=2 + 1e-3)
    with pytest.raises(ModelError, match="rect inference needs dynamic input height and width"):
        YoloDetector(tmp_path / "static.onnx", rect=True)


def test_rect_can_be_turned_off_for_a_dynamic_model(tmp_path: Path) -> None:
    det = YoloDetector(red_box_model(tmp_path / "red.onnx"), rect=False)
    assert det.info.dynamic_hw and not det.rect
    assert det.preprocess([frame(576, 768)])[0].shape == (1, 3, 384, 384)


@pytest.mark.parametrize("dynamic_hw", [False, True])
def test_float16_input(tmp_path: Path, dynamic_hw: bool) -> None:
    raw = v8_raw([(100, 40, 40, 20, 0, 0.9)], nc=3)
    path32 = constant_output_model(tmp_path / "f32.onnx", raw, imgsz=SQUARE, names=NAMES)
    path16 = edited(
        constant_output_model(tmp_path / "f16.onnx", raw, imgsz=SQUARE, names=NAMES),
        dynamic_hw=dynamic_hw,
        float16=True,
    )
    det32, det16 = YoloDetector(edited(path32, dynamic_hw=dynamic_hw)), YoloDetector(path16)
    assert det16.info.input_dtype == "float16"
    img, _ = red_patch_frame(576, 768)
    t32, _ = det32.preprocess([img])
    t16, _ = det16.preprocess([img])
    assert t16.dtype == np.float16
    np.testing.assert_array_equal(t16, t32.astype(np.float16))
    np.testing.assert_allclose(det16.detect([img])[0].xyxy, det32.detect([img])[0].xyxy)


def test_preprocess_matches_the_plain_numpy_recipe(tmp_path: Path) -> None:
    """The fast path (resize into the canvas, OpenCV split, one scaled pass) changes no value."""
    img = np.random.default_rng(0).integers(0, 256, (576, 768, 3), dtype=np.uint8)
    resized = cv2.resize(img, (384, 288), interpolation=cv2.INTER_LINEAR)
    square = np.full((384, 384, 3), 114, np.uint8)
    square[48:336] = resized
    boxed, lb = letterbox(img, (384, 384))
    np.testing.assert_array_equal(boxed, square)
    assert (lb.pad_x, lb.pad_y, lb.gain) == (0, 48, 0.5)

    def nchw(canvas: np.ndarray) -> np.ndarray:  # BGR HWC → RGB CHW 0..1, the obvious way
        return (canvas[..., ::-1].transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))[None]

    raw = v8_raw([(100, 40, 40, 20, 0, 0.9)], nc=3)
    path = edited(
        constant_output_model(tmp_path / "dyn.onnx", raw, imgsz=SQUARE, names=NAMES), dynamic_hw=True
    )
    for rect, expected in ((False, nchw(square)), (True, nchw(resized))):
        det = YoloDetector(path, rect=rect)
        for _ in range(2):  # the second call reuses the buffers
            np.testing.assert_array_equal(det.preprocess([img])[0], expected)
        batch, _ = det.preprocess([img, img[:, ::-1].copy()])
        np.testing.assert_array_equal(batch[:1], expected)


def test_letterbox_refuses_a_gain_that_does_not_fit() -> None:
    with pytest.raises(ModelError, match="larger than"):
        letterbox(frame(576, 768), (288, 384), gain=0.6)


def test_rect_shape_table() -> None:
    for (fh, fw), input_hw, _, _ in RECT_TABLE:
        assert rect_shape([(fh, fw)], SQUARE, 32) == input_hw
    assert rect_shape([(576, 768)], (256, 320), 32) == (256, 320)  # gain 0.4167 = 256/576 → 240x320
    assert rect_shape([(576, 768)], (640, 640), 32) == (480, 640)


@pytest.mark.parametrize(("rect", "input_hw"), [(None, (288, 384)), (False, (384, 384)), (True, (288, 384))])
def test_site_config_model_rect(tmp_path: Path, rect: bool | None, input_hw: tuple[int, int]) -> None:
    config = load_site_config(Path(__file__).resolve().parents[1] / "configs" / "site.full.yaml")
    assert config.model.rect is None, "the reference config shows the default"
    # the reference shows the TensorRT/CUDA entries' keys; the CPU runs the test
    cpu = {"path": red_box_model(tmp_path / "red.onnx"), "rect": rect, "providers": ["CPUExecutionProvider"]}
    model = config.model.model_copy(update=cpu)
    det = detector_from_config(config.model_copy(update={"model": model}))
    assert det.preprocess([frame(576, 768)])[0].shape[2:] == input_hw
