"""The YOLO ONNX contract, through real ONNX Runtime sessions on hand-built graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_factory import constant_output_model, e2e_raw, v8_raw

from detector.errors import ModelError, ProviderError
from detector.yolo import YoloDetector, letterbox, nms, parse_metadata_value

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


def test_missing_provider_is_an_error_not_a_silent_fallback(v8_model: Path) -> None:
    with pytest.raises(ProviderError, match="CUDAExecutionProvider"):
        YoloDetector(v8_model, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


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
