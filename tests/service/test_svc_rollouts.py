"""Rollouts in the service: a supervisor assigns a stored release (canary cameras optional) and sets a
camera's remote settings; a device polls its assignment (ETag → 304) and reports its rollout state;
every assignment, settings change, roll-back and refusal is a ledger entry; the console shows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nce.cli import main as nce_main
from service.app import create_app
from service.crud.releases import add_release, trusted_keys
from service.models import LedgerEntry
from service.state import AppState
from tests.support.releases import make_release, release_keys
from tests.support.service_api import Api, empty, make_settings

ASSIGNMENT = "/api/v1/devices/me/assignment"
REPORT = "/api/v1/devices/me/rollout"


@pytest.fixture
def rapi(db_url: str, tmp_path: Path) -> Iterator[tuple[Api, str]]:
    key, pub = release_keys(tmp_path / "keys")
    settings = make_settings(db_url, tmp_path / "evidence").model_copy(update={"release_pubkeys": (pub,)})
    app = create_app(settings)
    state: AppState = app.state.nce
    empty(state)
    folder, signed = make_release(tmp_path, key)
    with state.sessions() as s:
        add_release(
            s,
            store=state.store,
            release_json=(folder / "release.json").read_bytes(),
            model=(folder / "model.onnx").read_bytes(),
            card=(folder / "card.md").read_bytes(),
            trusted=trusted_keys([pub]),
            actor="test",
        )
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield Api(client, state, db_url, tmp_path / "evidence"), signed.record.model_sha256


def ledger(api: Api, action: str) -> list[dict[str, Any]]:
    with api.session() as s:
        return [e.payload for e in s.query(LedgerEntry).filter_by(action=action).order_by(LedgerEntry.seq)]


def test_a_canary_assignment_reaches_its_device_with_an_etag(rapi: tuple[Api, str]) -> None:
    api, sha = rapi
    a, b, c = api.device("edge-a"), api.device("edge-b"), api.device("edge-c")
    assert api.client.get(ASSIGNMENT, headers=b.headers).json()["release_id"] is None
    before = api.client.get(ASSIGNMENT, headers=a.headers)
    assert before.status_code == 200 and before.json()["release_id"] is None
    sup = api.user("supervisor")
    body = {"release_id": "patch-v1", "device_ids": ["edge-a", "edge-b"], "canary_cameras": ["cam-01"]}
    r = api.client.post("/api/v1/rollouts", headers=sup, json=body)
    assert r.status_code == 200, r.text
    got = api.client.get(ASSIGNMENT, headers=a.headers)
    tag = got.headers["etag"]
    assert got.json() == {
        "version": 1,
        "release_id": "patch-v1",
        "sha256": sha,
        "model_url": "/api/v1/models/patch-v1/model.onnx",
        "canary_cameras": ["cam-01"],
        "settings": [],
    }
    assert tag != before.headers["etag"]
    same = api.client.get(ASSIGNMENT, headers={**a.headers, "If-None-Match": tag})
    assert same.status_code == 304 and same.content == b""
    assert api.client.get(ASSIGNMENT, headers=c.headers).json()["release_id"] is None, "not assigned to c"
    assert [p["device_id"] for p in ledger(api, "model_assigned")] == ["edge-a", "edge-b"]
    # a settings change is a new version: the old ETag gets the new assignment
    s = api.client.put(
        "/api/v1/devices/edge-a/camera-settings", headers=sup, json={"camera_id": "cam-02", "min_score": 0.6}
    )
    assert s.status_code == 200, s.text
    changed = api.client.get(ASSIGNMENT, headers={**a.headers, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["settings"] == [
        {"camera_id": "cam-02", "enabled": None, "min_score": 0.6, "masks": None}
    ]
    assert ledger(api, "camera_settings_changed") == [
        {"device_id": "edge-a", "camera": "cam-02", "min_score": 0.6, "version": 2}
    ]


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status"),
    [
        ("operator", "post", "/api/v1/rollouts", {"release_id": "patch-v1", "device_ids": ["edge-a"]}, 403),
        ("device", "post", "/api/v1/rollouts", {"release_id": "patch-v1", "device_ids": ["edge-a"]}, 403),
        ("supervisor", "post", "/api/v1/rollouts", {"release_id": "nope", "device_ids": ["edge-a"]}, 404),
        ("supervisor", "post", "/api/v1/rollouts", {"release_id": "patch-v1", "device_ids": ["edge-zz"]}, 404),
        ("supervisor", "post", "/api/v1/rollouts", {"release_id": "patch-v1", "device_ids": []}, 422),
        ("supervisor", "post", "/api/v1/rollouts", {"release_id": "patch-v1", "device_ids": ["edge-a"], "canary_cameras": []}, 422),
        ("supervisor", "put", "/api/v1/devices/edge-a/camera-settings", {"camera_id": "cam-01", "min_score": 2}, 422),
        ("supervisor", "put", "/api/v1/devices/edge-a/camera-settings", {"camera_id": "cam-01"}, 422),
        ("supervisor", "put", "/api/v1/devices/edge-a/camera-settings",
         {"camera_id": "cam-01", "masks": [{"classes": ["stall"], "polygon": [[0, 0], [2, 0], [0, 1]]}]}, 422),
        ("operator", "put", "/api/v1/devices/edge-a/camera-settings", {"camera_id": "cam-01", "enabled": False}, 403),
        ("supervisor", "get", ASSIGNMENT, None, 403),
        ("anonymous", "get", ASSIGNMENT, None, 401),
    ],
)  # fmt: skip
def test_refusals(
    rapi: tuple[Api, str], who: str, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    api, _ = rapi
    api.device("edge-a")
    kwargs: dict[str, Any] = {"headers": api.headers(who)}
    if body is not None:
        kwargs["json"] = body
    r = api.client.request(method.upper(), path, **kwargs)
    assert r.status_code == status, r.text
    assert ledger(api, "model_assigned") == ledger(api, "camera_settings_changed") == []


def test_the_device_reports_a_roll_back_and_the_console_shows_it(rapi: tuple[Api, str]) -> None:
    api, _ = rapi
    a = api.device("edge-a")
    sup = api.user("supervisor")
    api.client.post(
        "/api/v1/rollouts", headers=sup, json={"release_id": "patch-v1", "device_ids": ["edge-a"]}
    )
    running = api.client.post(REPORT, headers=a.headers, json={"release_id": "patch-v1", "state": "running"})
    assert running.status_code == 200 and running.json()["state"] == "running"
    why = "detection flood: 60.0 detections per frame (limit 40)"
    body = {"release_id": "patch-v1", "state": "rolled_back", "why": why, "cameras": ["cam-01"]}
    assert api.client.post(REPORT, headers=a.headers, json=body).status_code == 200
    assert api.client.post(REPORT, headers=a.headers, json=body).status_code == 200  # a repeat: no new entry
    assert ledger(api, "model_rolled_back") == [
        {"device_id": "edge-a", "release_id": "patch-v1", "why": why, "cameras": ["cam-01"]}
    ]
    other = api.client.post(REPORT, headers=a.headers, json={"release_id": "other-v2", "state": "running"})
    assert other.status_code == 409
    listed = api.client.get("/api/v1/rollouts", headers=api.user("operator")).json()
    assert [(i["device_id"], i["state"], i["why"]) for i in listed["items"]] == [
        ("edge-a", "rolled_back", why)
    ]
    page = api.client.get("/rollouts?lang=zh-CN", headers=api.user("operator")).text
    assert 'data-device="edge-a" data-state="rolled_back"' in page and "已回滚" in page and why in page
    audit = api.client.get("/audit?lang=zh-CN", headers=sup).text
    assert "模型自动回滚" in audit and "下发模型" in audit


def test_the_cli_assigns_and_sets_accepted_masks(
    rapi: tuple[Api, str], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = rapi
    api.device("edge-a")
    args = ["admin", "assign-model", "--db", api.url, "--release", "patch-v1", "--devices", "edge-a"]
    assert nce_main([*args, "--canary-cameras", "cam-01"]) == 0
    assert "assigned to edge-a (canary cameras cam-01" in capsys.readouterr().out
    cam = [
        "admin",
        "camera-settings",
        "--db",
        api.url,
        "--device",
        "edge-a",
        "--camera",
        "cam-01",
        "--disable",
    ]
    assert nce_main(cam) == 0
    assert ledger(api, "camera_settings_changed") == [
        {"device_id": "edge-a", "camera": "cam-01", "enabled": False, "version": 2}
    ]
    assert nce_main([*args[:-1], "edge-nope"]) != 0


def test_a_cleared_camera_leaves_the_assignment_and_the_ledger_says_so(
    rapi: tuple[Api, str], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = rapi
    a = api.device("edge-a")
    sup = api.user("supervisor")
    path = "/api/v1/devices/edge-a/camera-settings"
    for body in ({"camera_id": "cam-01", "enabled": False}, {"camera_id": "cam-02", "min_score": 0.5}):
        assert api.client.put(path, headers=sup, json=body).status_code == 200
    tag = api.client.get(ASSIGNMENT, headers=a.headers).headers["etag"]
    assert api.client.delete(f"{path}/cam-01", headers=api.user("operator")).status_code == 403
    r = api.client.delete(f"{path}/cam-01", headers=sup)
    assert r.status_code == 200 and r.json()["version"] == 3, r.text
    got = api.client.get(ASSIGNMENT, headers={**a.headers, "If-None-Match": tag})
    assert got.status_code == 200 and [s["camera_id"] for s in got.json()["settings"]] == ["cam-02"]
    again = api.client.delete(f"{path}/cam-01", headers=sup)
    assert again.status_code == 404 and "no remote settings" in again.text
    assert api.client.delete("/api/v1/devices/edge-zz/camera-settings/cam-01", headers=sup).status_code == 404
    assert ledger(api, "camera_settings_cleared") == [
        {"device_id": "edge-a", "camera": "cam-01", "cleared": ["enabled"], "version": 3}
    ]
    cli = ["admin", "camera-settings", "--db", api.url, "--device", "edge-a", "--camera", "cam-02", "--clear"]
    assert nce_main(cli) == 0
    assert "settings cleared, site config again (assignment version 4)" in capsys.readouterr().out
    assert nce_main([*cli, "--min-score", "0.3"]) != 0
    assert "--clear takes no" in capsys.readouterr().err
    assert api.client.get(ASSIGNMENT, headers=a.headers).json()["settings"] == []
    audit = api.client.get("/audit?lang=zh-CN", headers=sup).text
    assert "清除摄像头远程设置" in audit
