"""The shipped model, ``models/street-v1.onnx``, through :class:`YoloDetector`: what it says about itself,
its output layout, and rect inference finding what square inference finds on a real frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.yolo import YoloDetector
from modeling.synth import CLASSES
from modeling.synth.backgrounds import DEFAULT_DATA_DIR, VTEST_SPEC, Background, read_video_frames
from modeling.synth.compose import Composer
from modeling.synth.fonts import find_cjk_fonts

MODEL = Path(__file__).resolve().parents[1] / "models" / "street-v1.onnx"
VTEST = DEFAULT_DATA_DIR / "vtest.avi"
NAMES = {0: "stall", 1: "goods", 2: "umbrella", 3: "banner", 4: "ad_board", 5: "poster", 6: "garbage"}
CONFIDENT = 0.5

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason=f"{MODEL} is not there")


@pytest.fixture(scope="module")
def square() -> YoloDetector:
    return YoloDetector(MODEL, rect=False, intra_op_threads=1)


@pytest.fixture(scope="module")
def rect() -> YoloDetector:
    return YoloDetector(MODEL, intra_op_threads=1)


@pytest.fixture(scope="module")
def street_frame() -> tuple[np.ndarray, list[tuple[str, tuple[int, int, int, int]]]]:
    """A 768x576 vtest.avi frame (held out of training) with synthetic stalls, umbrellas and an ad
    board composited in: vtest.avi alone has nothing the model should find."""
    if not VTEST.is_file():
        pytest.skip(f"OpenCV sample video {VTEST} missing: run `make data`")
    background = read_video_frames(VTEST, [600])[0]
    img, placed = Composer(find_cjk_fonts()).compose(
        np.random.default_rng(0), Background(background, VTEST_SPEC, "vtest.avi#600"), 4, None
    )
    return img, [(p.cls, p.box) for p in placed]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def test_what_the_model_says_about_itself(rect: YoloDetector) -> None:
    info = rect.info
    assert info.names == NAMES
    assert tuple(info.names.values()) == CLASSES, "the synth classes, in class-id order"
    assert info.imgsz == (480, 480)
    assert info.stride == 32
    assert (info.task, info.end2end, info.input_dtype) == ("detect", False, "float32")
    assert info.dynamic_hw and info.static_batch is None
    assert rect.rect, "rect is on by default for a dynamic-shape export"


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize(
    ("use_rect", "input_hw", "anchors"),
    [
        (False, (480, 480), 60 * 60 + 30 * 30 + 15 * 15),  # strides 8, 16, 32
        (True, (384, 480), 48 * 60 + 24 * 30 + 12 * 15),
    ],
)
def test_output_layout(
    square: YoloDetector,
    rect: YoloDetector,
    batch: int,
    use_rect: bool,
    input_hw: tuple[int, int],
    anchors: int,
) -> None:
    det = rect if use_rect else square
    frames = [np.full((576, 768, 3), 90 + 20 * i, np.uint8) for i in range(batch)]
    tensor, boxes = det.preprocess(frames)
    assert tensor.shape == (batch, 3, *input_hw) and tensor.dtype == np.float32
    raw = det.session.run(None, {det.info.input_name: tensor})[0]
    assert raw.shape == (batch, 4 + len(NAMES), anchors), "[B, 4+nc, A]: YOLO11 without NMS"
    assert raw.dtype == np.float32
    outs = det.postprocess(det.infer(tensor), boxes)
    assert len(outs) == batch


def test_rect_and_square_find_the_same_things(
    square: YoloDetector,
    rect: YoloDetector,
    street_frame: tuple[np.ndarray, list[tuple[str, tuple[int, int, int, int]]]],
) -> None:
    img, placed = street_frame
    assert rect.preprocess([img])[0].shape == (1, 3, 384, 480)
    sq, rc = square.detect([img])[0], rect.detect([img])[0]
    confident = sq.confidence > CONFIDENT
    assert confident.sum() >= 3, f"the frame should hold confident detections, got {sq.confidence}"
    # every confident box of one is found by the other: same class, IoU > 0.9
    for a, b in ((sq, rc), (rc, sq)):
        for box, cls, conf in zip(a.xyxy, a.class_id, a.confidence, strict=True):
            if conf <= CONFIDENT + 0.1:  # near the threshold the other may sit just below it
                continue
            same = [iou(box, other) for other, c in zip(b.xyxy, b.class_id, strict=True) if c == cls]
            assert same and max(same) > 0.9, f"{NAMES[int(cls)]} at {box} ({conf:.2f}) not matched"
    # and the boxes land on the objects drawn into the frame (frame pixels)
    for box, cls in zip(
        rc.xyxy[rc.confidence > CONFIDENT], rc.class_id[rc.confidence > CONFIDENT], strict=True
    ):
        drawn = [iou(box, np.array(b, np.float32)) for c, b in placed if c == NAMES[int(cls)]]
        assert drawn and max(drawn) > 0.5, f"{NAMES[int(cls)]} at {box} matches nothing drawn: {placed}"


def test_the_thread_pool_does_not_spin(rect: YoloDetector) -> None:
    """ONNX Runtime's threads sleep between operators (spinning tripled the CPU of a sample)."""
    options = rect.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"


def test_the_cpu_provider_runs_a_batch_one_image_at_a_time(
    rect: YoloDetector, street_frame: tuple[np.ndarray, list[tuple[str, tuple[int, int, int, int]]]]
) -> None:
    """``cpu_batch`` 1 (the default): three frames make three runs of one image (ONNX Runtime's
    activations stay sized for one), with the outputs of one run of three."""
    img = street_frame[0]
    frames = [img, np.ascontiguousarray(img[:, ::-1]), np.ascontiguousarray(img[::-1])]
    tensor, _ = rect.preprocess(frames)
    tensor = tensor.copy()
    calls: list[int] = []
    plain = rect.run_batch

    def counting(t: np.ndarray) -> np.ndarray:
        calls.append(t.shape[0])
        return np.asarray(plain(t))

    rect.run_batch = counting
    try:
        one_by_one = rect.infer(tensor)
        rect.cpu_batch = 0
        whole = rect.infer(tensor)
    finally:
        rect.run_batch, rect.cpu_batch = plain, 1
    assert calls == [1, 1, 1, 3]
    np.testing.assert_allclose(one_by_one, whole, rtol=1e-4, atol=1e-2)
