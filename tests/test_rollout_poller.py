"""The edge's assignment poller against a scripted service (httpx.MockTransport): a signed release is
downloaded, checked and swapped in (canary cameras only, when named); a bad signature, a tampered
model, a wrong sha256 or canary cameras this edge lacks are refused and reported; ETag → 304."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from detector.assignment_poller import AssignmentPoller
from detector.config import load_site_config
from detector.model_setup import detector_from_config
from detector.pipeline import Pipeline, PipelineOptions
from nce.manifest import load_public_key
from nce.release import CARD_FILE, MODEL_FILE, RELEASE_FILE
from tests.support import pipelines as pf
from tests.support.releases import make_release, release_keys

pytestmark = pytest.mark.timeout(120)


class Scripted:
    """The service's two device routes and a release's files; what the device reported."""

    def __init__(self, folder: Path, assignment: dict[str, Any], model: bytes | None = None) -> None:
        self.files = {n: (folder / n).read_bytes() for n in (RELEASE_FILE, MODEL_FILE, CARD_FILE)}
        if model is not None:
            self.files[MODEL_FILE] = model
        self.assignment = assignment
        self.reports: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/devices/me/assignment":
            tag = f'"a{self.assignment["version"]}"'
            if request.headers.get("if-none-match") == tag:
                return httpx.Response(304, headers={"ETag": tag})
            return httpx.Response(200, json=self.assignment, headers={"ETag": tag})
        if path == "/api/v1/devices/me/rollout":
            self.reports.append(json.loads(request.content))
            return httpx.Response(200, json={})
        name = path.rsplit("/", 1)[-1]
        if path.startswith(f"/api/v1/models/{self.assignment['release_id']}/") and name in self.files:
            return httpx.Response(200, content=self.files[name])
        return httpx.Response(404)


@pytest.fixture
def world(tmp_path: Path) -> tuple[Pipeline, Path, Path, Path, str]:
    video = pf.scene_video(tmp_path / "scene.mp4")
    model = pf.model(tmp_path / "colour.onnx")
    cams = [pf.camera(c, str(video)) for c in ("cam-01", "cam-02")]
    config = load_site_config(pf.site_config(tmp_path / "site.yaml", model, cams))
    pipeline = Pipeline(config, detector_from_config(config), [], options=PipelineOptions(until_eof=True))
    key, pub = release_keys(tmp_path / "keys")
    other_key, _ = release_keys(tmp_path / "keys", "other")
    v2 = pf.model(tmp_path / "v2.onnx")  # the same classes, so that it may replace the site's model
    folder, signed = make_release(tmp_path, key, model=v2, release_id="colour-v2")
    bad, _ = make_release(tmp_path, other_key, model=v2, release_id="colour-v2", out=tmp_path / "bad")
    return pipeline, folder, bad, pub, signed.record.model_sha256


def assignment(sha: str, canary: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "version": 3,
        "release_id": "colour-v2",
        "sha256": sha,
        "model_url": "/api/v1/models/colour-v2/model.onnx",
        "canary_cameras": canary,
        "settings": [],
        **extra,
    }


def poller(pipeline: Pipeline, service: Scripted, pub: Path, tmp: Path) -> AssignmentPoller:
    return AssignmentPoller(
        pipeline,
        service_url="http://service",
        token="t",
        pubkey=load_public_key(pub),  # type: ignore[arg-type]
        folder=tmp / "releases",
        transport=httpx.MockTransport(service),
    )


def test_a_signed_release_is_taken_on_its_canary_camera_and_reported_running(
    world: tuple[Pipeline, Path, Path, Path, str], tmp_path: Path
) -> None:
    pipeline, folder, _, pub, sha = world
    bad_settings = [
        {"camera_id": "cam-02", "masks": [{"classes": ["dragon"], "polygon": [[0, 0], [1, 0], [0, 1]]}]}
    ]
    service = Scripted(folder, assignment(sha, ["cam-01"], settings=bad_settings))
    p = poller(pipeline, service, pub, tmp_path)
    assert p.poll_once() is not None
    assert pipeline.models.apply_pending() == "swapped to colour-v2"
    assert (
        pipeline.models.release_for("cam-01") == "colour-v2"
        and pipeline.models.release_for("cam-02") == "site"
    )
    assert pipeline.settings.changes == [] and pipeline.settings.apply(pipeline.cameras, {}) == 0, (
        "refused settings"
    )
    assert p.poll_once() is None, "ETag: 304"
    assert service.reports == [
        {"release_id": "colour-v2", "state": "running", "why": None, "cameras": ["cam-01"]}
    ]
    pipeline.models.request_rollback("test")
    pipeline.models.apply_pending()
    p.poll_once()
    assert service.reports[-1]["state"] == "rolled_back" and "colour-v2" in p.given_up


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("another_key", "signed by another key"),
        ("forged_record", "signature"),
        ("tampered_model", "model.onnx sha256"),
        ("wrong_sha256", "the assignment names model sha256 " + "0" * 64),
        ("no_such_camera", "none of the canary cameras cam-09 runs on this edge"),
    ],
)
def test_a_bad_release_is_refused_and_reported(
    world: tuple[Pipeline, Path, Path, Path, str], tmp_path: Path, case: str, why: str
) -> None:
    pipeline, folder, bad, pub, sha = world
    if case == "another_key":
        service = Scripted(bad, assignment(sha))
    elif case == "forged_record":  # the trusted key's signature over another record
        service = Scripted(folder, assignment(sha))
        doc = json.loads(service.files[RELEASE_FILE])
        doc["record"]["metrics"] = {"map50": 0.99}
        service.files[RELEASE_FILE] = json.dumps(doc).encode()
    elif case == "tampered_model":
        service = Scripted(folder, assignment(sha), model=pf.model(tmp_path / "x.onnx").read_bytes() + b"\0")
    elif case == "wrong_sha256":
        service = Scripted(folder, assignment("0" * 64))
    else:
        service = Scripted(folder, assignment(sha, ["cam-09"]))
    p = poller(pipeline, service, pub, tmp_path)
    p.poll_once()
    assert pipeline.models.apply_pending() is None, "nothing swapped"
    [report] = service.reports
    assert report["state"] == "refused" and why in report["why"], report
    service.assignment = {**service.assignment, "version": 4}
    p.poll_once()
    assert len(service.reports) == 1, "a refused release is not tried again"
    again = poller(pipeline, service, pub, tmp_path)  # nce run restarted
    again.poll_once()
    assert len(service.reports) == 1, "not after a restart either"
