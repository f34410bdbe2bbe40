"""The assign form on the rollouts page (模型下发, ``/rollouts``): a supervisor picks a stored release,
ticks enrolled devices and names canary cameras; the form acts through
:func:`service.crud.rollouts.assign` (the assignment and a ledger entry ``model_assigned`` per device);
operators get no form and a 403; a post without the CSRF token is refused; a refusal of the service
is one line on the page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.crud.releases import add_release, trusted_keys
from service.models import LedgerEntry
from service.models_fleet import DeviceRollout
from service.state import AppState
from tests.support.console import csrf_of
from tests.support.releases import make_release, release_keys
from tests.support.service_api import Api, make_settings


@pytest.fixture
def rapi(tmp_path: Path, template_db: Path) -> Iterator[Api]:
    db = tmp_path / "nce.sqlite3"
    shutil.copy(template_db, db)
    url = f"sqlite:///{db}"
    key, pub = release_keys(tmp_path / "keys")
    settings = make_settings(url, tmp_path / "evidence").model_copy(update={"release_pubkeys": (pub,)})
    app = create_app(settings)
    state: AppState = app.state.nce
    folder, _ = make_release(tmp_path, key)
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
        yield Api(client, state, url, tmp_path / "evidence")
    state.engine.dispose()


def post(api: Api, headers: dict[str, str], data: dict[str, Any], *, token: str | None = None) -> Any:
    page = api.client.get("/rollouts?lang=zh-CN", headers=headers)
    csrf = csrf_of(page.text) if token is None else token
    return api.client.post(
        "/rollouts/assign?lang=zh-CN", headers=headers, data={"csrf": csrf, **data}, follow_redirects=False
    )


def assigned(api: Api) -> list[tuple[str, str | None, list[str] | None]]:
    with api.session() as s:
        rows = s.query(DeviceRollout).order_by(DeviceRollout.device_id).all()
        return [(r.device_id, r.release_id, r.canary_cameras) for r in rows]


def entries(api: Api) -> list[dict[str, Any]]:
    with api.session() as s:
        q = s.query(LedgerEntry).filter_by(action="model_assigned").order_by(LedgerEntry.seq)
        return [{"actor": e.actor, **e.payload} for e in q]


def test_a_supervisor_assigns_a_canary_through_the_form(rapi: Api) -> None:
    api = rapi
    api.device("edge-a"), api.device("edge-b"), api.device("edge-c")
    sup = api.user("supervisor", "sup-1")
    page = api.client.get("/rollouts?lang=zh-CN", headers=sup).text
    assert 'id="assign-form"' in page and '<option value="patch-v1"' in page
    assert re.findall(r'name="device_ids" value="([^"]+)"', page) == ["edge-a", "edge-b", "edge-c"]
    data = {"release_id": "patch-v1", "device_ids": ["edge-a", "edge-c"], "canary_cameras": "cam-01， cam-02"}
    r = post(api, sup, data)
    assert r.status_code == 303, r.text
    done = api.client.get(r.headers["location"], headers=sup).text
    assert "已将模型 patch-v1 下发到 2 台设备。" in done
    assert 'data-device="edge-a" data-state="pending"' in done
    assert assigned(api) == [
        ("edge-a", "patch-v1", ["cam-01", "cam-02"]),
        ("edge-c", "patch-v1", ["cam-01", "cam-02"]),
    ]
    got = entries(api)
    assert [(e["device_id"], e["release_id"], e["actor"]) for e in got] == [
        ("edge-a", "patch-v1", "user:sup-1"),
        ("edge-c", "patch-v1", "user:sup-1"),
    ]
    # all cameras: an empty canary field
    assert post(api, sup, {"release_id": "patch-v1", "device_ids": ["edge-b"]}).status_code == 303
    assert ("edge-b", "patch-v1", None) in assigned(api)


def test_an_operator_gets_no_form_and_a_403(rapi: Api) -> None:
    api = rapi
    api.device("edge-a")
    op = api.user("operator")
    page = api.client.get("/rollouts?lang=zh-CN", headers=op)
    assert page.status_code == 200 and 'id="assign-form"' not in page.text
    r = post(api, op, {"release_id": "patch-v1", "device_ids": ["edge-a"]})
    assert r.status_code == 403 and "角色 operator 无权下发模型。" in r.text
    assert assigned(api) == [] and entries(api) == []


@pytest.mark.parametrize("token", ["", "forged-token"])
def test_a_post_without_the_csrf_token_is_refused(rapi: Api, token: str) -> None:
    api = rapi
    api.device("edge-a")
    r = post(api, api.user("supervisor"), {"release_id": "patch-v1", "device_ids": ["edge-a"]}, token=token)
    assert r.status_code == 403
    assert assigned(api) == [] and entries(api) == []


@pytest.mark.parametrize(
    ("data", "status", "line"),
    [
        ({"release_id": "nope-v9", "device_ids": ["edge-a"]}, 404, "下发被拒绝：no model release 'nope-v9'"),
        (
            {"release_id": "patch-v1", "device_ids": ["edge-zz"]},
            404,
            "下发被拒绝：no device 'edge-zz' is enrolled",
        ),
        ({"release_id": "patch-v1"}, 422, "请至少勾选一台设备。"),
        ({"release_id": "", "device_ids": ["edge-a"]}, 422, "请选择模型发布。"),
        (
            {"release_id": "patch-v1", "device_ids": ["edge-a"], "canary_cameras": "cam 01"},
            422,
            "摄像头编号无效",
        ),
    ],
)
def test_a_refusal_is_one_line_and_assigns_nothing(
    rapi: Api, data: dict[str, Any], status: int, line: str
) -> None:
    api = rapi
    api.device("edge-a")
    r = post(api, api.user("supervisor"), data)
    assert r.status_code == status
    alerts = re.findall(r'<p class="error" role="alert">([^<]*)</p>', r.text)
    assert len(alerts) == 1 and alerts[0].startswith(line.replace("'", "&#39;")), alerts
    assert assigned(api) == [] and entries(api) == []
