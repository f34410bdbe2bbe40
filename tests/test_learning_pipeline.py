"""Masks and learning samples in the real pipeline, in process: generated video → real ONNX model
(colour patches) → masks → tracker → rules → sample selector → sinks, with the Prometheus metrics."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from detector.config import load_site_config
from detector.detections import Detections
from detector.events import Frame, HitEvent, LearningSample, RingSnapshot
from detector.metrics import PipelineMetrics
from detector.model_setup import detector_from_config
from detector.pipeline import Pipeline, PipelineOptions
from tests.support import pipelines as pf
from tests.support.onnx_models import colour_patch_model

pytestmark = pytest.mark.timeout(120)

# a mask over the shop frontage's left part, where the red "stall" stands (bottom-centre (70, 200))
STALL_MASK = {"classes": ["stall"], "polygon": [[0.0, 0.4], [0.4, 0.4], [0.4, 1.0], [0.0, 1.0]]}
DEVICE = {"id": "edge-t", "key_file": "edge-t.key"}  # learning needs one; nothing is signed here


@dataclass(frozen=True)
class Assets:
    model: Path
    faint_model: Path  # the same patches, every one scored 0.25
    video: Path


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    d = tmp_path_factory.mktemp("learning_pipeline")
    faint = colour_patch_model(d / "faint.onnx", names=pf.NAMES, colours=pf.COLOURS, score=0.25)
    return Assets(pf.model(d / "colour.onnx"), faint, pf.scene_video(d / "scene.mp4"))


class Recorder:
    """An EventSink that keeps hit events and learning samples."""

    def __init__(self) -> None:
        self.events: list[HitEvent] = []
        self.samples: list[LearningSample] = []

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        self.events.append(event)

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        return None

    def on_learning_sample(self, sample: LearningSample) -> None:
        self.samples.append(sample)

    def close(self) -> None:
        return None


def run(
    tmp_path: Path, model: Path, video: Path, *, camera: dict[str, Any] | None = None, **extra: Any
) -> tuple[Pipeline, Recorder, PipelineMetrics]:
    cam = pf.camera("cam-a", str(video), **(camera or {}))
    config = load_site_config(pf.site_config(tmp_path / "site.yaml", model, [cam], extra=extra))
    rec, metrics = Recorder(), PipelineMetrics()
    pipeline = Pipeline(
        config, detector_from_config(config), [rec], options=PipelineOptions(until_eof=True), metrics=metrics
    )
    pipeline.run()
    return pipeline, rec, metrics


def test_a_mask_drops_its_class_before_the_rules_and_counts_it(tmp_path: Path, assets: Assets) -> None:
    learning = {"enabled": True, "periodic_every_s": 60, "min_gap_s": 0}
    pipeline, rec, metrics = run(
        tmp_path, assets.model, assets.video, camera={"masks": [STALL_MASK]}, device=DEVICE, learning=learning
    )
    violations = {e.violation for e in rec.events}
    assert violations == {"illegal_ad"}, "the masked stall makes no hit; the banner still does"
    assert [e.event for e in rec.events if e.event in ("opened", "confirmed")] == ["opened", "confirmed"]
    masked = metrics.value("nce_masked_detections_total", {"camera": "cam-a", "class": "stall"})
    # the stall comes into view at 1.0 s and again after the passer-by (3.9 s): the change gate lets
    # at least those frames through to the model, and each time it is masked
    assert 2 <= masked <= pipeline.summary.inferred
    assert metrics.value("nce_masked_detections_total", {"camera": "cam-a", "class": "banner"}) == 0
    # masked detections make no sample either: the samples never hold a stall
    assert rec.samples, "the periodic sample at least"
    for s in rec.samples:
        assert 0 not in s.detections.class_id.tolist() and 0 not in s.below.class_id.tolist()
    assert "nce_masked_detections_total" in metrics.text()


def test_without_the_mask_the_same_scene_makes_the_stall_hit(tmp_path: Path, assets: Assets) -> None:
    """The control of the test above: it is the mask that kept the stall out."""
    _pipeline, rec, metrics = run(tmp_path, assets.model, assets.video)
    assert {e.violation for e in rec.events} == {"illegal_ad", "out_of_shop_trading"}
    assert metrics.value("nce_masked_detections_total", {"camera": "cam-a", "class": "stall"}) == 0


def test_low_scored_objects_make_low_confidence_samples_and_no_hit(tmp_path: Path, assets: Assets) -> None:
    """Scored 0.25 under model.conf 0.5: the model reports them only because learning asks for
    them down to 0.2; the rules never see them."""
    learning = {
        "enabled": True,
        "low_conf": [0.2, 0.3],
        "budget": {"low_confidence": 3},
        "periodic_every_s": 0,
        "min_gap_s": 1.0,
    }
    _pipeline, rec, metrics = run(
        tmp_path, assets.faint_model, assets.video, device=DEVICE, learning=learning
    )
    assert rec.events == [], "nothing scored above model.conf: no hit"
    assert [s.reason for s in rec.samples] == ["low_confidence"] * 3
    times = [s.frame.mono for s in rec.samples]
    assert all(b - a >= 1.0 - 1e-6 for a, b in itertools.pairwise(times)), times
    for s in rec.samples:
        assert len(s.detections) == 0 and len(s.below) >= 1 and s.score_floor == pytest.approx(0.2)
        assert s.below.confidence.tolist() == pytest.approx([0.25] * len(s.below))
        assert s.picked == tuple(range(len(s.below)))
    cam = {"camera": "cam-a"}
    assert metrics.value("nce_samples_total", {**cam, "reason": "low_confidence"}) == 3
    assert metrics.value("nce_samples_total", {**cam, "reason": "near_miss"}) == 0
    assert metrics.value("nce_samples_budget_left", cam) == 200 - 3


def test_learning_off_keeps_the_threshold_and_sends_nothing(tmp_path: Path, assets: Assets) -> None:
    pipeline, rec, metrics = run(tmp_path, assets.faint_model, assets.video)
    assert pipeline.detector.conf == 0.5
    assert rec.events == [] and rec.samples == []
    assert 'nce_samples_budget_left{camera="cam-a"}' not in metrics.text()
