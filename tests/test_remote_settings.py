"""Remote per-camera settings (nce.rollout.CameraSettings → detector.remote_settings): validated the
way the site config is, applied to a running pipeline without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from detector.config import load_site_config
from detector.detections import Detections
from detector.errors import ConfigError, UnknownCameraError
from detector.events import Frame, HitEvent, RingSnapshot
from detector.model_setup import detector_from_config
from detector.pipeline import Pipeline, PipelineOptions
from detector.remote_settings import SettingsInbox
from nce.rollout import CameraSettings
from tests.support import pipelines as pf

pytestmark = pytest.mark.timeout(120)
SQUARE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"camera_id": "cam-0", "min_score": 1.5}, "less than or equal to 1"),
        ({"camera_id": "cam-0", "min_score": -0.1}, "greater than or equal to 0"),
        (
            {"camera_id": "cam-0", "masks": [{"classes": ["stall"], "polygon": [[0.1, 0.1], [0.2, 0.2]]}]},
            "at least 3",
        ),
        (
            {
                "camera_id": "cam-0",
                "masks": [{"classes": ["stall"], "polygon": [[0.1, 0.1], [1.2, 0.1], [0.1, 0.5]]}],
            },
            "outside the frame",
        ),
        ({"camera_id": "cam-0", "masks": [{"classes": [], "polygon": SQUARE}]}, "at least 1"),
        ({"camera_id": "cam 0"}, "expected an id of letters"),
        ({"camera_id": "cam-0", "zones": []}, "Extra inputs are not permitted"),
    ],
)
def test_the_contract_refuses(body: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        CameraSettings.model_validate(body)


def site(tmp_path: Path, model: Path, video: str, **extra: Any) -> Any:
    cams = [pf.camera("cam-0", video), pf.camera("cam-1", video, **extra)]
    return load_site_config(pf.site_config(tmp_path / "site.yaml", model, cams))


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("remote")
    return pf.model(d / "colour.onnx"), pf.scene_video(d / "scene.mp4")


@pytest.mark.parametrize(
    ("settings", "error", "kind"),
    [
        # the site config's own checks: a class the detector does not have, a self-crossing polygon
        (
            [CameraSettings(camera_id="cam-0", masks=[{"classes": ["dragon"], "polygon": SQUARE}])],
            "unknown class 'dragon'",
            ConfigError,
        ),
        (
            [
                CameraSettings(
                    camera_id="cam-0",
                    masks=[
                        {"classes": ["stall"], "polygon": [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]}
                    ],
                )
            ],
            "cameras\\[cam-0\\].masks",
            ConfigError,
        ),
        ([CameraSettings(camera_id="cam-9", enabled=False)], "unknown camera 'cam-9'", UnknownCameraError),
        (
            [CameraSettings(camera_id="cam-1", enabled=True)],
            "the site config disables this camera",
            ConfigError,
        ),
    ],
)
def test_the_edge_refuses_what_the_site_config_would(
    tmp_path: Path,
    assets: tuple[Path, Path],
    settings: list[CameraSettings],
    error: str,
    kind: type[Exception],
) -> None:
    config = site(tmp_path, assets[0], str(assets[1]), enabled=False)
    inbox = SettingsInbox(config.cameras)
    with pytest.raises(kind, match=error):
        inbox.submit([CameraSettings(camera_id="cam-0", min_score=0.2), *settings])
    assert inbox.submit([]) == {}, "all or nothing: the good camera's change was not kept either"
    assert inbox.apply([], {}) == 0


def test_each_assignment_is_the_whole_list_and_what_it_leaves_out_goes_back_to_the_site_config(
    tmp_path: Path, assets: tuple[Path, Path]
) -> None:
    """The service replaces a camera's settings and can clear them: the edge merges every list onto the
    site config, never onto what it applied before (else a field set once would stick for good)."""
    config = site(tmp_path, assets[0], str(assets[1]))
    cam0 = config.cameras[0]
    inbox = SettingsInbox(config.cameras)
    taken = inbox.submit([CameraSettings(camera_id="cam-0", enabled=False)])
    assert taken["cam-0"].enabled is False
    # replaced: min_score only, so enabled is the site config's again
    taken = inbox.submit([CameraSettings(camera_id="cam-0", min_score=0.6)])
    assert taken["cam-0"].enabled is True and taken["cam-0"].min_score == 0.6
    assert inbox.submit([CameraSettings(camera_id="cam-0", min_score=0.6)]) == {}, "the same list: no change"
    # cleared: the camera is not named any more
    assert inbox.submit([]) == {"cam-0": cam0}
    assert inbox.submit([]) == {}
    assert inbox.apply([], {}) == 1, "one camera pending (its latest state)"


class Hits:
    def __init__(self, pipeline: list[Pipeline], at: int, settings: list[CameraSettings]) -> None:
        self.opened: list[tuple[str, str]] = []
        self.n, self.at, self.settings, self.pipeline = 0, at, settings, pipeline

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        if event.event == "opened":
            self.opened.append((event.camera_id, event.violation))

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        self.n += 1
        if self.n == self.at:
            self.pipeline[0].settings.submit(self.settings)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("settings", "opened"),
    [
        ([], {("cam-0", "out_of_shop_trading"), ("cam-0", "illegal_ad"), ("cam-1", "out_of_shop_trading"), ("cam-1", "illegal_ad")}),
        # the colour model scores 0.9: a floor of 0.95 drops everything cam-1 sees
        ([CameraSettings(camera_id="cam-1", min_score=0.95)], {("cam-0", "out_of_shop_trading"), ("cam-0", "illegal_ad")}),
        ([CameraSettings(camera_id="cam-1", enabled=False)], {("cam-0", "out_of_shop_trading"), ("cam-0", "illegal_ad")}),
        # a mask over the no-ads zone's banner on cam-0 (classes of the colour model: stall, banner)
        ([CameraSettings(camera_id="cam-0", masks=[{"classes": ["banner"], "polygon": [[0.55, 0.0], [1.0, 0.0], [1.0, 0.5], [0.55, 0.5]]}])],
         {("cam-0", "out_of_shop_trading"), ("cam-1", "out_of_shop_trading"), ("cam-1", "illegal_ad")}),
    ],
)  # fmt: skip
def test_settings_apply_to_a_running_pipeline(
    tmp_path: Path, assets: tuple[Path, Path], settings: list[CameraSettings], opened: set[tuple[str, str]]
) -> None:
    config = site(tmp_path, assets[0], str(assets[1]))
    holder: list[Pipeline] = []
    sink = Hits(holder, 1, settings)  # after the first inferred sample, before anything appears
    pipeline = Pipeline(config, detector_from_config(config), [sink], options=PipelineOptions(until_eof=True))
    holder.append(pipeline)
    s = pipeline.run()
    assert set(sink.opened) == opened
    assert len(pipeline.settings.changes) == len(settings)
    assert s.samples == 80 and s.inferred + s.gate_skipped + s.paused == 80
