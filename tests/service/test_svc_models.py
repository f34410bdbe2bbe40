"""Model releases in the service: stored only when signed by a trusted release key (API and
``nce admin add-model``), listed for operators, fetched by devices and admins, recorded in the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nce.cli import main as nce_main
from nce.release import CARD_FILE, MODEL_FILE, RELEASE_FILE, ReleaseGate
from service.app import create_app
from service.console.render import Page, console_tz
from service.console.view import ledger_action, ledger_detail
from service.models import LedgerEntry
from service.schemas.ledger import LedgerEntryPublic
from service.state import AppState
from tests.support.releases import make_release, release_keys, small_model
from tests.support.service_api import Api, empty, make_settings


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return release_keys(tmp_path / "keys")


@pytest.fixture
def mapi(db_url: str, tmp_path: Path, keys: tuple[Path, Path]) -> Iterator[Api]:
    evidence = tmp_path / "evidence"
    settings = make_settings(db_url, evidence).model_copy(update={"release_pubkeys": (keys[1],)})
    app = create_app(settings)
    state: AppState = app.state.nce
    empty(state)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield Api(client, state, db_url, evidence)


def files_of(folder: Path) -> dict[str, tuple[str, bytes]]:
    return {
        part: (name, (folder / name).read_bytes())
        for part, name in (("release", RELEASE_FILE), ("model", MODEL_FILE), ("card", CARD_FILE))
    }


def test_an_admin_stores_a_signed_release_once(mapi: Api, tmp_path: Path, keys: tuple[Path, Path]) -> None:
    gate = ReleaseGate(verdict="fail", forced=True, reason="urgent: site 3")
    folder, signed = make_release(tmp_path, keys[0], gate=gate)
    admin = mapi.user("admin")
    r = mapi.client.post("/api/v1/models", headers=admin, files=files_of(folder))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["release_id"] == "patch-v1" and body["record"]["gate"]["forced"] is True
    again = mapi.client.post("/api/v1/models", headers=admin, files=files_of(folder))
    assert again.status_code == 200 and again.json()["ledger_seq"] == body["ledger_seq"]
    with mapi.session() as s:
        entries = s.query(LedgerEntry).filter_by(action="model_release_added").all()
    assert [e.payload for e in entries] == [
        {
            "release_id": "patch-v1",
            "model_sha256": signed.record.model_sha256,
            "key_fingerprint": signed.record.key_fingerprint,
            "gate_verdict": "fail",
            "forced": True,
        }
    ]
    page = Page("zh-CN", console_tz(), "", None, "/", {})
    texts = [part.text for part in ledger_detail(LedgerEntryPublic.model_validate(entries[0]), page)]
    assert (
        "模型发布：patch-v1" in texts and "评估闸门：未通过" in texts and "未通过评估闸门，强制发布" in texts
    )
    assert ledger_action("model_release_added", page).text == "模型发布入库"
    listed = mapi.client.get("/api/v1/models", headers=mapi.user("operator")).json()
    assert [i["release_id"] for i in listed["items"]] == ["patch-v1"] and listed["count"] == 1
    device = mapi.device().headers
    model = mapi.client.get("/api/v1/models/patch-v1/model.onnx", headers=device)
    assert model.status_code == 200 and model.content == (folder / MODEL_FILE).read_bytes()
    record = mapi.client.get("/api/v1/models/patch-v1/release.json", headers=device)
    assert json.loads(record.content) == json.loads((folder / RELEASE_FILE).read_text())
    card = mapi.client.get("/api/v1/models/patch-v1/card.md", headers=admin)
    assert card.content == (folder / CARD_FILE).read_bytes()


def test_another_release_under_a_stored_id_is_a_conflict(
    mapi: Api, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    admin = mapi.user("admin")
    first, _ = make_release(tmp_path, keys[0])
    assert mapi.client.post("/api/v1/models", headers=admin, files=files_of(first)).status_code == 201
    other_model = small_model(tmp_path / "other.onnx", colours={0: "red", 1: "blue"})
    second, _ = make_release(tmp_path, keys[0], out=tmp_path / "second", model=other_model)
    r = mapi.client.post("/api/v1/models", headers=admin, files=files_of(second))
    assert r.status_code == 409 and "patch-v1: already stored with other content" in r.json()["detail"]
    assert mapi.count("model_releases") == 1


@pytest.mark.parametrize(
    ("what", "status", "message"),
    [
        ("untrusted key", 422, "not a trusted release key"),
        ("model swapped", 422, "model.onnx sha256"),
        ("card swapped", 422, "card.md differs"),
        ("record edited", 422, "signature invalid"),
        ("part missing", 422, "send one file part each"),
    ],
)
def test_a_bad_release_is_refused_in_one_line_and_leaves_nothing(
    mapi: Api, tmp_path: Path, keys: tuple[Path, Path], what: str, status: int, message: str
) -> None:
    key = release_keys(tmp_path / "k2", "other")[0] if what == "untrusted key" else keys[0]
    folder, _ = make_release(tmp_path, key)
    files = files_of(folder)
    if what == "model swapped":
        files["model"] = (MODEL_FILE, files["model"][1] + b"\0")
    elif what == "card swapped":
        files["card"] = (CARD_FILE, b"# another card\n")
    elif what == "record edited":
        data = json.loads(files["release"][1])
        data["record"]["metrics"] = {"map50": 0.99}
        files["release"] = (RELEASE_FILE, json.dumps(data).encode())
    elif what == "part missing":
        del files["card"]
    r = mapi.client.post("/api/v1/models", headers=mapi.user("admin"), files=files)
    assert r.status_code == status and message in r.json()["detail"], r.text
    assert "\n" not in r.json()["detail"]
    assert mapi.count("model_releases") == 0 and mapi.count("ledger") == 0
    assert mapi.stored_files() == 0


@pytest.mark.parametrize(
    ("role", "add", "list_", "fetch"),
    [
        ("admin", 201, 200, 200),
        ("supervisor", 403, 200, 403),
        ("operator", 403, 200, 403),
        ("device", 403, 403, 200),
        ("case_system", 403, 403, 403),
        ("anonymous", 401, 401, 401),
    ],
)
def test_who_may_add_list_and_fetch(
    mapi: Api, tmp_path: Path, keys: tuple[Path, Path], role: str, add: int, list_: int, fetch: int
) -> None:
    folder, _ = make_release(tmp_path, keys[0])
    headers = mapi.headers(role)
    assert mapi.client.post("/api/v1/models", headers=headers, files=files_of(folder)).status_code == add
    if add != 201:
        assert (
            mapi.client.post("/api/v1/models", headers=mapi.user("admin"), files=files_of(folder)).status_code
            == 201
        )
    assert mapi.client.get("/api/v1/models", headers=headers).status_code == list_
    assert mapi.client.get("/api/v1/models/patch-v1/model.onnx", headers=headers).status_code == fetch
    assert mapi.client.get("/api/v1/models/patch-v1/release.json", headers=headers).status_code == fetch


def test_without_trusted_keys_every_release_is_refused(
    api: Api, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    folder, _ = make_release(tmp_path, keys[0])
    r = api.client.post("/api/v1/models", headers=api.user("admin"), files=files_of(folder))
    assert r.status_code == 422 and "not a trusted release key" in r.json()["detail"]


def test_nce_admin_add_model(
    db_url: str, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The command against the database it is given (each backend of the ``db_url`` fixture)."""
    folder, _ = make_release(tmp_path, keys[0])
    url = f"sqlite:///{tmp_path}/cli.sqlite3" if db_url.startswith("sqlite") else db_url
    ev = str(tmp_path / "ev")
    base = ["admin", "add-model", "--db", url, "--evidence-dir", ev, str(folder)]
    other = release_keys(tmp_path / "k3", "other")[1]
    assert nce_main([*base[:2], "--pubkey", str(other), *base[2:]]) == 2
    assert "not a trusted release key" in capsys.readouterr().err
    assert nce_main([*base[:2], "--pubkey", str(keys[1]), *base[2:]]) == 0
    assert "release patch-v1 stored" in capsys.readouterr().out
    assert nce_main([*base[:2], "--pubkey", str(keys[1]), *base[2:]]) == 0
    assert "stored already" in capsys.readouterr().out
