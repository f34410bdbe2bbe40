"""The GPU path, prepared: typed TensorRT/CUDA provider options in the site config, a provider this
onnxruntime build lacks refused in one line, the IO-binding batch runner against ``session.run``
(on the CPU provider's io_binding: the code path for real), and NVDEC decoding (``decode.hwaccel``)
refused or fallen back from where FFmpeg cannot open a CUDA device. What needs a GPU to run (the
binding on a CUDA device, NVDEC itself) is measured by benchmarks/bench_gpu.py on a lent GPU."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort
import pytest

import tests.support.pipelines as pf
from detector.config import parse_site_config
from detector.config.camera import DecodeSettings
from detector.errors import ConfigError, ProviderError, SourceError
from detector.metrics import PipelineMetrics
from detector.model_setup import detector_from_config
from detector.sources import CameraReader, ReaderOptions, StreamState
from detector.video.hwaccel import choose_decode, cuda_decode_problem
from detector.yolo import YoloDetector
from detector.yolo_binding import BoundRunner, PlainRunner, batch_runner, device_of
from tests.support.cli import nce
from tests.support.onnx_models import without_cuda
from tests.support.streams import city_stream

pytestmark = pytest.mark.timeout(120)

NVDEC_HERE = cuda_decode_problem(0) is None
T = TypeVar("T", bound=Callable[..., Any])


def without_nvdec(test: T) -> T:
    """Skip ``test`` (optional) where FFmpeg opens a CUDA device: it needs one that does not open."""
    test = pytest.mark.skipif(
        NVDEC_HERE, reason="FFmpeg opens a CUDA device here: the test needs it missing"
    )(test)
    return pytest.mark.optional("FFmpeg opens a CUDA device here")(test)


TRT, CUDA = "TensorrtExecutionProvider", "CUDAExecutionProvider"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pf.model(tmp_path_factory.mktemp("gpu") / "colour.onnx")


def doc(providers: Any = None, decode: Any = None) -> dict[str, Any]:
    cam = pf.camera("cam-a", "scene.mp4")
    if decode is not None:
        cam["decode"] = decode
    model: dict[str, Any] = {"path": "m.onnx"}
    if providers is not None:
        model["providers"] = providers
    return {
        "site": {"id": "s", "name": "s", "timezone": "Asia/Shanghai"},
        "model": model,
        "shops": [{"id": "S-1", "name": "shop", "code": "310000-0001"}],
        "cameras": [cam],
        "rules": copy.deepcopy(pf.RULES),
    }


# -- config: typed provider options ----------------------------------------------------------


@pytest.mark.parametrize(
    ("providers", "expected"),
    [
        (None, ["CPUExecutionProvider"]),
        ([CUDA, "CPUExecutionProvider"], [CUDA, "CPUExecutionProvider"]),
        (
            [{"name": TRT, "fp16": True, "engine_cache": "cache/trt", "max_workspace_size": 1 << 30}],
            [
                (
                    TRT,
                    {
                        "device_id": "0",
                        "trt_fp16_enable": "True",
                        "trt_engine_cache_enable": "True",
                        "trt_engine_cache_path": "{base}/cache/trt",
                        "trt_max_workspace_size": "1073741824",
                    },
                )
            ],
        ),
        ([{"name": TRT}], [(TRT, {"device_id": "0", "trt_fp16_enable": "False"})]),
        (
            [{"name": CUDA, "device_id": 1, "cudnn_conv_algo_search": "HEURISTIC"}, "CPUExecutionProvider"],
            [(CUDA, {"device_id": "1", "cudnn_conv_algo_search": "HEURISTIC"}), "CPUExecutionProvider"],
        ),
        (
            [{"name": TRT, "engine_cache": "/abs/trt"}],
            [
                (
                    TRT,
                    {
                        "device_id": "0",
                        "trt_fp16_enable": "False",
                        "trt_engine_cache_enable": "True",
                        "trt_engine_cache_path": "/abs/trt",
                    },
                )
            ],
        ),
    ],
)
def test_provider_options_reach_onnx_runtime(tmp_path: Path, providers: Any, expected: list[Any]) -> None:
    config = parse_site_config(doc(providers), base_dir=tmp_path)
    want = [
        e if isinstance(e, str) else (e[0], {k: v.format(base=tmp_path) for k, v in e[1].items()})
        for e in expected
    ]
    assert config.model.ort_providers() == want
    assert config.model.provider_names() == [e if isinstance(e, str) else e[0] for e in expected]


@pytest.mark.parametrize(
    ("providers", "where", "why"),
    [
        ([{"name": TRT, "fp16": "maybe"}], "model.providers[0].tensorrt.fp16", "valid boolean"),
        ([{"name": TRT, "max_workspace_size": 1000}], "model.providers[0].tensorrt.max_workspace_size", "greater than or equal to 1048576"),
        ([{"name": TRT, "max_workspace_size": "4GB"}], "model.providers[0].tensorrt.max_workspace_size", "integer"),
        ([{"name": TRT, "device_id": -1}], "model.providers[0].tensorrt.device_id", "greater than or equal to 0"),
        ([{"name": TRT, "engine_cache": 5}], "model.providers[0].tensorrt.engine_cache", "path"),
        ([{"name": TRT, "int8": True}], "model.providers[0].tensorrt.int8", "unknown key"),
        ([{"name": CUDA, "cudnn_conv_algo_search": "FAST"}], "model.providers[0].cuda.cudnn_conv_algo_search", "HEURISTIC"),
        ([{"name": CUDA, "fp16": True}], "model.providers[0].cuda.fp16", "unknown key"),
        (["CPUExecutionProvider", {"name": "OpenVINOExecutionProvider"}], "model.providers[1]", "provider name"),
        ([{"fp16": True}], "model.providers[0]", "provider name"),
        ([42], "model.providers[0]", "provider name"),
        ([], "model.providers", "at least 1"),
    ],
)  # fmt: skip
def test_bad_provider_options_are_one_line_naming_the_key(providers: Any, where: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_site_config(doc(providers), file="site.yaml")
    assert len(err.value.problems) == 1, err.value.problems
    line = str(err.value.problems[0])
    assert "\n" not in line and line.startswith(f"site.yaml: {where}: ") and why in line, line


@pytest.mark.parametrize(
    ("decode", "where"),
    [({"hwaccel": "nvdec"}, "cameras[0].decode.hwaccel"), ({"device": -1}, "cameras[0].decode.device"),
     ({"hwaccel": "cuda", "gpu": 0}, "cameras[0].decode.gpu")],
)  # fmt: skip
def test_bad_decode_settings_name_the_key(decode: Any, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_site_config(doc(decode=decode), file="site.yaml")
    assert [p.path for p in err.value.problems] == [where]


# -- providers missing from this onnxruntime build ------------------------------------------


@without_cuda
@pytest.mark.parametrize(
    "providers",
    [
        [{"name": CUDA, "cudnn_conv_algo_search": "HEURISTIC"}, "CPUExecutionProvider"],
        [{"name": TRT, "fp16": True}, {"name": CUDA}, "CPUExecutionProvider"],
    ],
)
def test_a_missing_gpu_provider_is_refused_in_one_line(tmp_path: Path, model: Path, providers: Any) -> None:
    config = parse_site_config({**doc(providers), "model": {"path": str(model), "providers": providers}})
    with pytest.raises(ProviderError) as err:
        detector_from_config(config)
    line = str(err.value)
    assert "\n" not in line
    first = providers[0]["name"]
    assert f"execution provider {first}" in line and "does not have it" in line
    assert f"(available: {', '.join(ort.get_available_providers())})" in line


@without_cuda
def test_a_missing_provider_with_options_and_allow_fallback_runs_on_cpu_and_warns(
    model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    det = YoloDetector(
        model, providers=[(CUDA, {"device_id": "0"}), "CPUExecutionProvider"], allow_fallback=True
    )
    assert det.info.providers == ("CPUExecutionProvider",)
    assert "not in use" in caplog.text and CUDA in caplog.text


@without_cuda
def test_nce_run_refuses_a_missing_tensorrt_provider_in_one_line(tmp_path: Path, model: Path) -> None:
    video = pf.scene_video(tmp_path / "scene.mp4")
    cfg = pf.site_config(tmp_path / "site.yaml", model, [pf.camera("cam-a", str(video))])
    text = cfg.read_text().replace("model:\n", f"model:\n  providers:\n  - {{name: {TRT}, fp16: true}}\n", 1)
    cfg.write_text(text)
    run = nce("run", "--config", str(cfg), "--until-eof", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and TRT in lines[0] and "available: " in lines[0], run.stderr
    assert "Traceback" not in run.stderr


# -- IO binding ------------------------------------------------------------------------------


def test_io_binding_on_cpu_equals_session_run(model: Path) -> None:
    det = YoloDetector(model)
    assert isinstance(det.run_batch, PlainRunner)  # the CPU keeps session.run
    assert device_of(det.session) is None and isinstance(
        batch_runner(det.session, det.info.input_name), PlainRunner
    )
    bound = BoundRunner(det.session, det.info.input_name, "cpu")
    rng = np.random.default_rng(7)
    h, w = det.info.imgsz
    for n in (1, 3):
        batch = rng.random((n, 3, h, w), dtype=np.float32)
        want = det.session.run(None, {det.info.input_name: batch})[0]
        got = bound(batch)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert got.any()  # the model's output depends on the input: not a constant that always agrees
    wide = rng.random((2, 3, h, 2 * w), dtype=np.float32)[:, :, :, ::2]  # not C-contiguous
    assert np.array_equal(
        bound(wide), det.session.run(None, {det.info.input_name: np.ascontiguousarray(wide)})[0]
    )


def test_detections_through_the_binding_equal_those_through_run(tmp_path: Path, model: Path) -> None:
    import cv2

    video = pf.scene_video(tmp_path / "scene.mp4")
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < 40 and (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    frames = frames[::5]
    plain = YoloDetector(model)
    bound = YoloDetector(model)
    bound.run_batch = BoundRunner(bound.session, bound.info.input_name, "cpu")
    a, b = plain.detect(frames), bound.detect(frames)
    assert sum(len(d) for d in a) > 0
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.xyxy, y.xyxy) and np.array_equal(x.confidence, y.confidence)
        assert np.array_equal(x.class_id, y.class_id)


# -- NVDEC: decode.hwaccel -------------------------------------------------------------------


@without_nvdec
def test_hwaccel_cuda_where_ffmpeg_has_no_device_is_refused_in_one_line() -> None:
    with pytest.raises(SourceError) as err:
        CameraReader(
            "cam-a", "x.mp4", detect_fps=2, options=ReaderOptions(decode=DecodeSettings(hwaccel="cuda"))
        )
    line = str(err.value)
    assert "\n" not in line and line.startswith("camera cam-a: decode.hwaccel is cuda but ")
    assert "set decode.hwaccel to auto or none" in line


@without_nvdec
def test_hwaccel_auto_falls_back_to_the_cpu_with_a_log_line_and_metric(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = PipelineMetrics()
    caplog.set_level(logging.INFO, logger="detector.sources")
    opts = ReaderOptions(decode=DecodeSettings(hwaccel="auto"))
    reader = CameraReader("cam-a", str(city_stream("h264")), detect_fps=1, realtime=False, lossless=True,
                          options=opts, metrics=metrics)  # fmt: skip
    assert not reader.decoder.on_gpu and reader.decoder.accel() is None
    assert "camera cam-a: decode.hwaccel auto: decoding on the CPU: " in caplog.text
    assert metrics.value("nce_decode_hwaccel", {"camera": "cam-a"}) == 0.0
    assert 'nce_decode_hwaccel{camera="cam-a"} 0.0' in metrics.text()
    reader.start()
    deadline = time.monotonic() + 60
    while not reader.finished and time.monotonic() < deadline:
        reader.take_sample()
        time.sleep(0.01)
    reader.stop()
    assert reader.state == StreamState.eof and reader.frames_decoded > 0


def test_hwaccel_none_never_tries_the_device() -> None:
    assert choose_decode("cam-a", DecodeSettings()).hwaccel == "none"
    assert not CameraReader("c", "x.mp4", detect_fps=1).decoder.on_gpu


@without_nvdec
def test_nce_run_refuses_hwaccel_cuda_where_there_is_none_in_one_line(tmp_path: Path, model: Path) -> None:
    video = pf.scene_video(tmp_path / "scene.mp4")
    cam = pf.camera("cam-a", str(video), decode={"hwaccel": "cuda"})
    cfg = pf.site_config(tmp_path / "site.yaml", model, [cam])
    run = nce("run", "--config", str(cfg), "--until-eof", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if "decode.hwaccel" in line]
    assert len(lines) == 1 and "camera cam-a: decode.hwaccel is cuda but " in lines[0], run.stderr
    assert "Traceback" not in run.stderr
