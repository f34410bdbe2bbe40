"""The pipeline end to end, in process: generated video → real ONNX model → tracker → rules → sinks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from detector.config import load_site_config
from detector.detections import Detections
from detector.events import Frame, HitEvent, RingSnapshot
from detector.gate import ChangeGate, GateSettings
from detector.metrics import PipelineMetrics
from detector.model_setup import detector_from_config, overlap_pays
from detector.pipeline import Pipeline, PipelineOptions
from detector.sources import CameraReader, ReaderOptions, StreamState, redact
from detector.tracker import IouTracker
from detector.yolo import YoloDetector
from tests.support import pipelines as pf
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Assets:
    model: Path
    video: Path


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    d = tmp_path_factory.mktemp("pipeline")
    return Assets(model=pf.model(d / "colour.onnx"), video=pf.scene_video(d / "scene.mp4"))


class Recorder:
    """An EventSink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[HitEvent, float, int]] = []  # event, frame media time, ring length
        self.samples = 0
        self.closed = False

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        self.events.append((event, frame.mono, len(ring())))

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        self.samples += 1

    def close(self) -> None:
        self.closed = True

    def of(self, camera_id: str, violation: str) -> list[tuple[str, float, str]]:
        return [
            (e.event, t, e.hit_id)
            for e, t, _ in self.events
            if e.camera_id == camera_id and e.violation == violation
        ]


def run_pipeline(
    tmp_path: Path, assets: Assets, cameras: list[dict[str, object]], metrics: PipelineMetrics | None = None
) -> tuple[Pipeline, Recorder]:
    config = load_site_config(pf.site_config(tmp_path / "site.yaml", assets.model, cameras))
    recorder = Recorder()
    pipeline = Pipeline(
        config,
        detector_from_config(config),
        [recorder],
        options=PipelineOptions(until_eof=True),
        metrics=metrics,
    )
    pipeline.run()
    return pipeline, recorder


def near(t: float, expected: float) -> bool:
    return abs(t - expected) <= pf.SAMPLE_S + 1e-6  # ± one sample


def check_one_hit(
    events: Sequence[tuple[str, float, str]], appears: float, leaves: float, dwell: float
) -> None:
    kinds = [k for k, _, _ in events]
    assert kinds[:2] == ["opened", "confirmed"] and kinds[-1] == "cleared", kinds
    assert kinds.count("opened") == kinds.count("confirmed") == kinds.count("cleared") == 1, kinds
    assert set(kinds[2:-1]) <= {"still_present"}
    assert len({h for _, _, h in events}) == 1
    at = {k: t for k, t, _ in events}
    assert near(at["opened"], appears), at
    assert near(at["confirmed"], appears + dwell), at
    assert at["cleared"] > leaves and near(at["cleared"], leaves + 1.0), at  # grace 1.0 s


def test_end_to_end_one_camera(tmp_path: Path, assets: Assets) -> None:
    metrics = PipelineMetrics()
    pipeline, rec = run_pipeline(tmp_path, assets, [pf.camera("cam-a", str(assets.video))], metrics)
    check_one_hit(rec.of("cam-a", "out_of_shop_trading"), pf.STALL_IN, pf.STALL_OUT, 1.5)
    check_one_hit(rec.of("cam-a", "illegal_ad"), pf.BANNER_IN, pf.BANNER_OUT, 2.0)
    assert rec.closed
    s = pipeline.summary
    assert s.samples == 40, "8 s at 5 fps, every sample kept with --until-eof"
    assert 0 < s.inferred < s.samples and s.inferred + s.gate_skipped == s.samples
    assert rec.samples == s.inferred
    cam = {"camera": "cam-a"}
    assert metrics.value("nce_frames_decoded_total", cam) == 80
    assert metrics.value("nce_frames_sampled_total", cam) == 40
    assert metrics.value("nce_frames_inferred_total", cam) == s.inferred
    assert metrics.value("nce_frames_gate_skipped_total", cam) == s.gate_skipped
    _, _, ring_len = rec.events[0]
    assert ring_len >= 5, "the ring buffer holds pre-roll frames"
    stall = [e for e, _, _ in rec.events if e.violation == "out_of_shop_trading"]
    assert stall[0].box == pytest.approx((40, 130, 100, 200), abs=2)
    assert stall[0].shop_id == "S-1" and stall[0].label == "stall" and stall[0].track_id is not None
    # the UTC stamps follow the media time
    confirmed = next(e for e in stall if e.event == "confirmed")
    assert (confirmed.ts - stall[0].ts).total_seconds() == pytest.approx(confirmed.dwell_s, abs=0.01)


def test_four_cameras_share_batches_and_metrics_are_served(tmp_path: Path, assets: Assets) -> None:
    metrics = PipelineMetrics()
    port = metrics.serve(0, addr="127.0.0.1")
    try:
        cams = [pf.camera(f"cam-{i}", str(assets.video)) for i in range(4)]
        pipeline, rec = run_pipeline(tmp_path, assets, cams, metrics)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        metrics.close()
    for i in range(4):
        check_one_hit(rec.of(f"cam-{i}", "out_of_shop_trading"), pf.STALL_IN, pf.STALL_OUT, 1.5)
        check_one_hit(rec.of(f"cam-{i}", "illegal_ad"), pf.BANNER_IN, pf.BANNER_OUT, 2.0)
    values = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line.startswith("nce_")
    }
    batches = values["nce_batch_size_count"]
    single = values['nce_batch_size_bucket{le="1.0"}']
    assert batches > single, "some batches held more than one frame"
    assert values["nce_batch_size_sum"] == pipeline.summary.inferred
    assert pipeline.summary.largest_batch == 4
    assert values["nce_inference_seconds_count"] == batches
    for i in range(4):
        assert values[f'nce_frames_sampled_total{{camera="cam-{i}"}}'] == 40


@pytest.mark.parametrize("max_batch", [8, 3])
def test_overlapped_model_runs_change_nothing_but_speed(
    tmp_path: Path, assets: Assets, max_batch: int
) -> None:
    """With the model on one batch while the loop tracks and decides the previous one (several chunks
    in flight when max_batch < cameras), every camera sees the same events, in the same order, at the
    same media times as the plain one-batch-at-a-time loop."""
    cams = [pf.camera(f"cam-{i}", str(assets.video)) for i in range(4)]
    config = load_site_config(pf.site_config(tmp_path / "site.yaml", assets.model, cams, max_batch=max_batch))
    seen = {}
    for overlap in (False, True):
        recorder = Recorder()
        options = PipelineOptions(until_eof=True, overlap=overlap)
        pipeline = Pipeline(config, detector_from_config(config), [recorder], options=options)
        summary = pipeline.run()
        assert summary.largest_batch == min(4, max_batch) and summary.model_s > 0
        seen[overlap] = (
            [(e.camera_id, e.event, e.violation, e.track_id, e.box, t) for e, t, _ in recorder.events],
            summary.inferred,
            recorder.samples,
        )
    assert seen[True] == seen[False]
    assert len(seen[True][0]) >= 4 * 6, "opened, confirmed and cleared of two hits on every camera"


@pytest.mark.parametrize(
    ("threads", "pays"), [(0, False), (1, (os.cpu_count() or 1) > 1), (os.cpu_count() or 1, False)]
)
def test_overlap_is_on_when_the_model_leaves_cores_free(assets: Assets, threads: int, pays: bool) -> None:
    detector = YoloDetector(assets.model, intra_op_threads=threads)
    assert overlap_pays(detector) is pays


def test_unreadable_files_are_reported_and_skipped(
    tmp_path: Path, assets: Assets, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    damaged = bytearray(assets.video.read_bytes())  # a third of the way in: 4 KB of noise
    third = len(damaged) // 3
    damaged[third : third + 4000] = np.random.default_rng(1).integers(0, 256, 4000, np.uint8).tobytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(bytes(damaged))
    metrics = PipelineMetrics()
    cams = [
        pf.camera("cam-bad", str(broken)),
        pf.camera("cam-gone", str(tmp_path / "missing.mp4")),
        pf.camera("cam-ok", str(assets.video)),
        pf.camera("cam-corrupt", str(corrupt)),
    ]
    with caplog.at_level(logging.INFO):
        pipeline, rec = run_pipeline(tmp_path, assets, cams, metrics)
    check_one_hit(rec.of("cam-ok", "out_of_shop_trading"), pf.STALL_IN, pf.STALL_OUT, 1.5)
    states = {rt.camera.id: rt.reader.state for rt in pipeline.cameras}
    assert states == {
        "cam-bad": StreamState.failed,
        "cam-gone": StreamState.failed,
        "cam-ok": StreamState.eof,
        "cam-corrupt": StreamState.eof,
    }
    damaged_reader = pipeline.cameras[3].reader
    assert damaged_reader.read_errors >= 1, "corrupt frames are counted"
    last = damaged_reader.latest()
    assert last is not None and last.mono > 7.0, "and skipped: the file is read to its end"
    assert metrics.value("nce_read_errors_total", {"camera": "cam-bad"}) >= 1
    assert metrics.value("nce_stream_up", {"camera": "cam-bad"}) == 0
    text = caplog.text
    assert "cam-bad" in text and "skipped" in text and "missing.mp4" in text


def test_gate_skips_static_frames_and_rechecks() -> None:
    gate = ChangeGate(GateSettings(recheck_s=5.0))
    still = np.full((240, 320, 3), 128, np.uint8)
    moved = still.copy()
    moved[100:140, 100:140] = 0
    noisy = np.clip(still.astype(np.int16) + np.random.default_rng(0).integers(-4, 5, still.shape), 0, 255)
    decisions = [
        gate.update(still, 0.0),  # first: infer
        gate.update(still, 1.0),  # same: skip
        gate.update(noisy.astype(np.uint8), 2.0),  # sensor noise: skip
        gate.update(moved, 3.0),  # a change: infer
        gate.update(moved, 4.0),  # skip
        gate.update(moved, 8.0),  # recheck_s since the last inference: infer
    ]
    assert decisions == [True, False, False, True, False, True]


def test_tracker_keeps_ids_through_occlusion() -> None:
    tracker = IouTracker(buffer_s=5.0)

    def dets(*boxes: tuple[float, float, float, float]) -> Detections:
        return Detections(
            xyxy=np.array(boxes, np.float32).reshape(-1, 4),
            confidence=np.full(len(boxes), 0.9, np.float32),
            class_id=np.zeros(len(boxes), np.int64),
        )

    a, b = (10, 10, 50, 50), (100, 10, 140, 50)
    first = tracker.update(dets(a, b), 0.0).tracker_id
    assert first is not None and len(set(first.tolist())) == 2
    assert tracker.update(dets(), 1.0).tracker_id is not None  # both hidden
    again = tracker.update(dets((12, 11, 52, 51), b), 4.0).tracker_id  # back within the buffer
    assert again is not None and again.tolist() == first.tolist()
    late = tracker.update(dets(a), 20.0).tracker_id  # gone longer than the buffer: a new id
    assert late is not None and late[0] not in first.tolist()


def test_files_play_in_real_time_and_duration_stops_the_run(tmp_path: Path, assets: Assets) -> None:
    config = load_site_config(
        pf.site_config(tmp_path / "site.yaml", assets.model, [pf.camera("cam-a", str(assets.video))])
    )
    rec = Recorder()
    options = PipelineOptions(duration_s=1.6)  # real-time pace: the stall shows up at 1.0 s
    pipeline = Pipeline(config, detector_from_config(config), [rec], options=options)
    summary = pipeline.run()
    assert 1.6 <= summary.elapsed_s < 4.0
    assert pipeline.cameras[0].reader.state == StreamState.stopped
    assert 6 <= summary.samples <= 10, "about 1.6 s of media at 5 fps, not the whole 8 s file"
    assert [e.event for e, _, _ in rec.events] == ["opened"] and rec.closed


def test_ring_holds_the_evidence_clip_pre_roll(tmp_path: Path, assets: Assets) -> None:
    cams = [pf.camera("cam-a", str(assets.video))]
    evidence = {"evidence": {"clip_fps": 10, "clip_pre_s": 15}}
    config = load_site_config(pf.site_config(tmp_path / "site.yaml", assets.model, cams, extra=evidence))
    pipeline = Pipeline(config, detector_from_config(config), [])
    options = pipeline.cameras[0].reader.options
    assert options.ring_fps == 10 and options.ring_s == 17


@pytest.mark.parametrize(
    ("options", "most"), [(ReaderOptions(ring_s=1.0), 6), (ReaderOptions(ring_max_mb=0.5), 2)]
)
def test_ring_is_bounded_by_time_and_bytes(assets: Assets, options: ReaderOptions, most: int) -> None:
    reader = CameraReader("cam", str(assets.video), detect_fps=5, realtime=False, options=options)
    reader.start()
    longest = 0
    while not reader.finished:
        reader.take_sample()
        longest = max(longest, len(reader.ring()))
        time.sleep(0.002)
    frames = reader.ring()
    assert 1 <= len(frames) <= most and longest <= most
    assert [f.mono for f in frames] == sorted(f.mono for f in frames)
    assert frames[-1].mono == pytest.approx(7.9, abs=0.11), "the newest frames are kept"


def test_stream_credentials_stay_out_of_logs(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # a port nothing listens on
    url = f"rtsp://admin:s3cret@127.0.0.1:{port}/live"
    assert redact(url) == f"rtsp://***@127.0.0.1:{port}/live"
    fast = ReaderOptions(open_timeout_s=1, backoff_initial_s=0.05, backoff_cap_s=0.1)
    reader = CameraReader("cam", url, detect_fps=1, options=fast)
    with caplog.at_level(logging.DEBUG, logger="detector.sources"):
        reader.start()
        deadline = time.monotonic() + 10
        while reader.reconnects < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        reader.stop()
    assert reader.reconnects >= 3, "a camera that never connects keeps retrying"
    assert "s3cret" not in caplog.text and "***@127.0.0.1" in caplog.text
    assert caplog.text.count("down:") == 1, "logged once per state change"
