"""Hot-swapping the model in a running pipeline (detector.rollout) on a recorded clip: no frame lost,
the hits kept, a canary on one camera only, a bad model rolled back by itself, a wrong sha256 or a
model that fails its warm-up refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from detector.config import SiteConfig, load_site_config
from detector.detections import Detections
from detector.errors import ModelError
from detector.events import Frame, HitEvent, RingSnapshot
from detector.health_watch import HealthRules
from detector.model_setup import detector_from_config
from detector.pipeline import Pipeline, PipelineOptions
from detector.rollout import Swap, file_sha256, load_candidate
from detector.yolo import YoloDetector
from tests.support import pipelines as pf
from tests.support.bad_models import flooding_model, raising_model

pytestmark = pytest.mark.timeout(120)
CAMS = ("cam-0", "cam-1")


@dataclass(frozen=True)
class Assets:
    model: Path
    video: Path
    flood: Path
    raising: Path


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    d = tmp_path_factory.mktemp("rollout")
    model = pf.model(d / "colour.onnx")
    return Assets(
        model,
        pf.scene_video(d / "scene.mp4"),
        flooding_model(model, d / "flood.onnx"),
        raising_model(model, d / "raise.onnx"),
    )


class Counting(YoloDetector):
    """The detector, counting the frames it ran on per camera batch."""

    frames = 0

    def infer(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.frames += tensor.shape[0]
        return super().infer(tensor)


class Recorder:
    """Keeps the events and the inferred samples per camera; runs ``at_sample`` once, at sample n."""

    def __init__(self, at: int = -1, action: Callable[[], None] | None = None) -> None:
        self.events: list[tuple[str, str, str, float]] = []
        self.samples: dict[str, int] = dict.fromkeys(CAMS, 0)
        self.at, self.action, self.n = at, action, 0

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        self.events.append((event.camera_id, event.event, event.violation, frame.mono))

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        self.samples[frame.camera_id] += 1
        self.n += 1
        if self.n == self.at and self.action is not None:
            self.action()

    def close(self) -> None:
        pass


def site(tmp_path: Path, assets: Assets) -> SiteConfig:
    cams = [pf.camera(c, str(assets.video)) for c in CAMS]
    return load_site_config(pf.site_config(tmp_path / "site.yaml", assets.model, cams))


def counting(config: SiteConfig, path: Path | None = None) -> Counting:
    m = config.model
    return Counting(path or m.path, conf=m.conf, iou=m.iou, intra_op_threads=1)


def run(
    config: SiteConfig, rec: Recorder, overlap: bool = False, health: HealthRules | None = None
) -> Pipeline:
    options = PipelineOptions(until_eof=True, overlap=overlap, release="v1", health=health)
    pipeline = Pipeline(config, detector_from_config(config), [rec], options=options)
    pipeline.run()
    return pipeline


def baseline(tmp_path: Path, assets: Assets) -> Recorder:
    rec = Recorder()
    run(site(tmp_path, assets), rec)
    return rec


@pytest.mark.parametrize("overlap", [False, True])
def test_a_swap_mid_clip_loses_no_frame_and_keeps_the_hits(
    tmp_path: Path, assets: Assets, overlap: bool
) -> None:
    expected = baseline(tmp_path, assets)
    config = site(tmp_path, assets)
    new = counting(config)
    holder: list[Pipeline] = []
    rec = Recorder(at=6, action=lambda: holder[0].models.request(Swap(new, "v2", None)))
    options = PipelineOptions(until_eof=True, overlap=overlap, release="v1")
    pipeline = Pipeline(config, detector_from_config(config), [rec], options=options)
    holder.append(pipeline)
    s = pipeline.run()
    assert pipeline.models.release == "v2" and len(pipeline.models.swaps) == 1
    assert s.samples == 2 * 40, "frames in: 8 s at 5 fps on each camera"
    assert s.inferred + s.gate_skipped == s.samples, "frames out: every sample reached the rules"
    assert sum(rec.samples.values()) == s.inferred
    assert 0 < new.frames < s.inferred, "the new model took over part way"
    assert rec.events == expected.events, "the same hits, at the same media times"
    assert [e.state for e in pipeline.models.events] == ["running"]
    assert pipeline.models.swaps[0].seconds < 1.0


@pytest.mark.parametrize("overlap", [False, True])
def test_a_canary_runs_on_its_camera_only(tmp_path: Path, assets: Assets, overlap: bool) -> None:
    expected = baseline(tmp_path, assets)
    config = site(tmp_path, assets)
    new = counting(config)
    holder: list[Pipeline] = []
    rec = Recorder(at=1, action=lambda: holder[0].models.request(Swap(new, "v2", frozenset({"cam-1"}))))
    options = PipelineOptions(until_eof=True, overlap=overlap)
    pipeline = Pipeline(config, detector_from_config(config), [rec], options=options)
    holder.append(pipeline)
    s = pipeline.run()
    assert pipeline.models.release_for("cam-1") == "v2" and pipeline.models.release_for("cam-0") == "site"
    assert rec.events == expected.events, "the same model file: the same hits (no buffer mixed up)"
    assert new.frames == rec.samples["cam-1"] - 1, "every cam-1 frame after the first, no cam-0 frame"
    assert s.inferred + s.gate_skipped == s.samples == 80


@pytest.mark.parametrize(
    ("bad", "canary", "why"),
    [
        ("raising", None, "inference errors: 3 of 3 frames"),
        ("raising", frozenset({"cam-1"}), "inference errors: 3 of 3 frames"),
        ("flood", None, "detection flood: 60.0 detections per frame (limit 40)"),
        ("flood", frozenset({"cam-0"}), "detection flood: 61.0 detections per frame (limit 40)"),
    ],
)
def test_a_bad_model_is_rolled_back_by_itself_and_no_frame_or_hit_is_lost(
    tmp_path: Path, assets: Assets, bad: str, canary: frozenset[str] | None, why: str
) -> None:
    expected = baseline(tmp_path, assets)
    config = site(tmp_path, assets)
    m = config.model
    model = YoloDetector(getattr(assets, bad), conf=m.conf, iou=m.iou, intra_op_threads=1)
    holder: list[Pipeline] = []
    rec = Recorder(at=4, action=lambda: holder[0].models.request(Swap(model, "v2", canary)))
    rules = HealthRules(min_frames=4)
    options = PipelineOptions(until_eof=True, overlap=False, release="v1", health=rules)
    pipeline = Pipeline(config, detector_from_config(config), [rec], options=options)
    holder.append(pipeline)
    s = pipeline.run()
    states = [(e.release, e.state, e.why) for e in pipeline.models.events]
    assert states[0][:2] == ("v2", "running") and states[1][:2] == ("v2", "rolled_back"), states
    assert states[1][2] is not None and states[1][2].startswith(why.split(":")[0]), states
    assert pipeline.models.release_for("cam-0") == pipeline.models.release_for("cam-1") == "v1"
    assert s.inferred + s.gate_skipped == s.samples == 80
    if bad == "raising":  # the failed batches ran again on the previous model: nothing lost
        assert rec.events == expected.events
    else:  # the flood reached the rules for a few frames at most; every real hit is still there
        real = {(c, k, v) for c, k, v, _ in expected.events}
        assert real <= {(c, k, v) for c, k, v, _ in rec.events}


def test_a_wrong_sha256_or_a_failing_warm_up_is_refused(tmp_path: Path, assets: Assets) -> None:
    config = site(tmp_path, assets)
    frame = np.full((240, 320, 3), 90, np.uint8)
    good = file_sha256(assets.model)
    loaded = load_candidate(assets.model, good, config.model, frame)
    assert loaded.info.names == pf.NAMES
    with pytest.raises(ModelError, match=r"sha256 .* is not the release's 0000"):
        load_candidate(assets.model, "0" * 64, config.model, frame)
    with pytest.raises(ModelError, match="failed its warm-up"):
        load_candidate(assets.raising, file_sha256(assets.raising), config.model, frame)
    with pytest.raises(ModelError, match="classes"):
        load_candidate(assets.model, good, config.model, frame, names={0: "x"})


def test_swap_latency(tmp_path: Path, assets: Assets) -> None:
    """Requested → applied is one turn of the loop; measured on live-paced playback."""
    config = site(tmp_path, assets)
    new = counting(config)
    holder: list[Pipeline] = []
    rec = Recorder(at=6, action=lambda: holder[0].models.request(Swap(new, "v2", None)))
    pipeline = Pipeline(config, detector_from_config(config), [rec], options=PipelineOptions(duration_s=3.0))
    holder.append(pipeline)
    t0 = time.monotonic()
    pipeline.run()
    assert time.monotonic() - t0 < 10
    assert pipeline.models.swaps and pipeline.models.swaps[0].seconds < 0.5
