"""The case workflow: review, notice, deadline (corrected / escalated), export, shop history."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile

from service.crud.case_actions import sweep_deadlines
from tests.support.devices import files_for


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _case(api, case_id, headers=None):
    return api.client.get(f"/api/v1/cases/{case_id}", headers=headers or api.user("operator")).json()


def test_review_confirm_with_corrected_violation_and_dismiss_needs_reason(api):
    dev = api.device()
    op = api.user("operator", username="op1")
    c1 = dev.post(api.client, dev.package(shop_id="S-1")).json()["case_id"]
    c2 = dev.post(api.client, dev.package(shop_id="S-2")).json()["case_id"]
    r = api.client.post(
        f"/api/v1/cases/{c1}/review", json={"decision": "confirm", "violation": "piled_goods"}, headers=op
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["violation"], r.json()["original_violation"]) == (
        "confirmed",
        "piled_goods",
        "out_of_shop_trading",
    )
    assert r.json()["reviewed_by"] == "op1"
    no_reason = api.client.post(f"/api/v1/cases/{c2}/review", json={"decision": "dismiss"}, headers=op)
    assert no_reason.status_code == 422 and "reason" in json.dumps(no_reason.json())
    unknown = api.client.post(
        f"/api/v1/cases/{c2}/review", json={"decision": "confirm", "status": "exported"}, headers=op
    )
    assert unknown.status_code == 422  # a client can never set a status
    ok = api.client.post(
        f"/api/v1/cases/{c2}/review", json={"decision": "dismiss", "reason": "遮挡/误报"}, headers=op
    )
    assert ok.json()["status"] == "dismissed"
    again = api.client.post(f"/api/v1/cases/{c2}/review", json={"decision": "confirm"}, headers=op)
    assert again.status_code == 409 and "dismissed" in again.json()["detail"]
    entries = _case(api, c1)["ledger"]
    assert [e["action"] for e in entries] == ["hit_ingested", "case_reviewed"]
    assert entries[1]["actor"] == "user:op1"
    assert entries[1]["payload"]["violation"] == {"from": "out_of_shop_trading", "to": "piled_goods"}


def test_notice_then_sighting_after_deadline_escalates(api):
    dev = api.device()
    op = api.user("operator")
    pkg = dev.package()
    case_id = dev.post(api.client, pkg).json()["case_id"]
    early = api.client.post(
        f"/api/v1/cases/{case_id}/notice",
        json={"deadline": (_now() + dt.timedelta(hours=1)).isoformat()},
        headers=op,
    )
    assert early.status_code == 409  # drafts get no notice
    api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=op
    ).raise_for_status()
    past = api.client.post(
        f"/api/v1/cases/{case_id}/notice", json={"deadline": "2020-01-01T00:00:00Z"}, headers=op
    )
    assert past.status_code == 422
    naive = api.client.post(
        f"/api/v1/cases/{case_id}/notice", json={"deadline": "2099-01-01T00:00:00"}, headers=op
    )
    assert naive.status_code == 422
    deadline = _now() + dt.timedelta(seconds=1)
    r = api.client.post(
        f"/api/v1/cases/{case_id}/notice", json={"deadline": deadline.isoformat()}, headers=op
    )
    assert r.status_code == 200 and r.json()["status"] == "notice_issued"
    # the same stall, seen again after the deadline (by both clocks): after-stills attached; the
    # sweeper, on the server's clock, escalates the case
    while _now() <= deadline:
        time.sleep(0.05)
    after = dev.package(hit_id=pkg.manifest.event.hit_id, event="still_present", ts=_now())
    res = dev.post(api.client, after).json()
    assert (res["case_id"], res["case_status"], res["merged"]) == (case_id, "notice_issued", True)
    with api.session() as s:
        assert sweep_deadlines(s) == [(case_id, "escalated")]
    detail = _case(api, case_id)
    assert detail["case"]["status"] == "escalated"
    assert [h["event"] for h in detail["hits"]] == ["confirmed", "still_present"]
    assert [h["after_deadline"] for h in detail["hits"]] == [False, True]
    assert [e["action"] for e in detail["ledger"]][-2:] == ["hit_ingested", "case_escalated"]
    assert detail["ledger"][-1]["actor"] == "system:deadline"


def test_cleared_after_notice_and_quiet_deadline_is_corrected(api):
    dev = api.device()
    op = api.user("operator")
    pkg = dev.package()
    case_id = dev.post(api.client, pkg).json()["case_id"]
    api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=op
    ).raise_for_status()
    deadline = _now() + dt.timedelta(hours=2)
    api.client.post(
        f"/api/v1/cases/{case_id}/notice", json={"deadline": deadline.isoformat()}, headers=op
    ).raise_for_status()
    cleared = dev.package(
        hit_id=pkg.manifest.event.hit_id,
        kind="cleared",
        event="cleared",
        ts=_now(),
        files={"still-1-first_seen.jpg": files_for("empty")["still-1-first_seen.jpg"]},
        stills=[],
    )
    assert dev.post(api.client, cleared).json()["case_status"] == "notice_issued"
    with api.session() as s:
        assert sweep_deadlines(s, now=_now() + dt.timedelta(hours=1)) == []  # not yet
    with api.session() as s:
        assert sweep_deadlines(s, now=deadline + dt.timedelta(seconds=1)) == [(case_id, "corrected")]
    detail = _case(api, case_id)
    assert detail["case"]["status"] == "corrected"
    assert detail["ledger"][-1]["actor"] == "system:deadline"


def test_export_zip_holds_case_packages_manifests_and_ledger(api):
    dev = api.device()
    sup = api.user("supervisor")
    pkg = dev.package()
    case_id = dev.post(api.client, pkg).json()["case_id"]
    refused = api.client.get(f"/api/v1/cases/{case_id}/export", headers=sup)
    assert refused.status_code == 409 and "only confirmed" in refused.json()["detail"]
    api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=sup
    ).raise_for_status()
    r = api.client.get(f"/api/v1/cases/{case_id}/export", headers=api.case_system())
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    folder = f"packages/{pkg.manifest.package_id}"
    assert zf.read(f"{folder}/manifest.json") == pkg.manifest_bytes
    for name, (_role, _mime, data) in pkg.files.items():
        assert zf.read(f"{folder}/{name}") == data
    case = json.loads(zf.read("case.json"))
    assert case["case"]["id"] == case_id
    ledger = json.loads(zf.read("ledger.json"))
    assert [e["action"] for e in ledger] == ["hit_ingested", "case_reviewed", "case_exported"]
    assert _case(api, case_id)["case"]["status"] == "exported"
    # the package in the zip verifies offline with the manifest module
    from nce.manifest import parse_manifest, verify_files, verify_signature

    m = parse_manifest(zf.read(f"{folder}/manifest.json"))
    verify_signature(m, dev.key.public_key())
    assert verify_files(m, {n: zf.read(f"{folder}/{n}") for n in pkg.files}) == []


def test_shop_history_marks_repeat_offences(api):
    dev = api.device()
    op = api.user("operator")
    first = dev.post(api.client, dev.package(shop_id="S-5")).json()["case_id"]
    api.client.post(
        f"/api/v1/cases/{first}/review", json={"decision": "confirm"}, headers=op
    ).raise_for_status()
    api.client.post(
        f"/api/v1/cases/{first}/notice",
        json={"deadline": (_now() + dt.timedelta(hours=1)).isoformat()},
        headers=op,
    )
    with api.session() as s:  # the shop corrected nothing but the deadline passed with a cleared event
        from service.models import Case

        case = s.get(Case, first)
        case.status = "corrected"
        s.commit()
    second = dev.post(api.client, dev.package(shop_id="S-5")).json()["case_id"]
    assert second != first
    history = _case(api, second)["shop_history"]
    assert history["first_offence"] is False
    assert [c["id"] for c in history["prior_cases"]] == [first]


def test_list_filters_and_cursor_pagination(api):
    dev = api.device()
    ids = [
        dev.post(api.client, dev.package(shop_id=f"S-{i}", camera_id="cam-A" if i % 2 else "cam-B")).json()[
            "case_id"
        ]
        for i in range(7)
    ]
    op = api.user("operator")
    seen, cursor = [], None
    while True:
        page = api.client.get(
            "/api/v1/cases", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=op
        ).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    cam_a = api.client.get("/api/v1/cases", params={"camera_id": "cam-A"}, headers=op).json()["items"]
    assert len(cam_a) == 3
    assert len(api.client.get("/api/v1/cases", params={"shop_id": "S-2"}, headers=op).json()["items"]) == 1
    assert api.client.get("/api/v1/cases", params={"status": "confirmed"}, headers=op).json()["items"] == []
    assert (
        api.client.get("/api/v1/cases", params={"since": "2030-01-01T00:00:00Z"}, headers=op).json()["items"]
        == []
    )
    assert (
        len(
            api.client.get("/api/v1/cases", params={"until": "2030-01-01T00:00:00Z"}, headers=op).json()[
                "items"
            ]
        )
        == 7
    )
    assert api.client.get("/api/v1/cases", params={"cursor": "garbage!"}, headers=op).status_code == 422
    assert api.client.get("/api/v1/cases", params={"violation": "jaywalking"}, headers=op).status_code == 422


def test_the_service_settles_deadlines_by_itself(api, tmp_path):
    """The background sweeper of a running app turns a quiet, cleared notice case into corrected."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from tests.support.service_api import make_settings

    dev = api.device()
    op = api.user("operator")
    pkg = dev.package()
    case_id = dev.post(api.client, pkg).json()["case_id"]
    api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=op
    ).raise_for_status()
    deadline = _now() + dt.timedelta(seconds=1.5)
    r = api.client.post(
        f"/api/v1/cases/{case_id}/notice", json={"deadline": deadline.isoformat()}, headers=op
    )
    r.raise_for_status()
    cleared = dev.package(
        hit_id=pkg.manifest.event.hit_id,
        kind="cleared",
        event="cleared",
        ts=_now(),
        files={"still-1-first_seen.jpg": files_for("quiet")["still-1-first_seen.jpg"]},
        stills=[],
    )
    assert dev.post(api.client, cleared).status_code == 201
    settings = make_settings(api.url, api.evidence_dir).model_copy(update={"sweep_interval_s": 0.2})
    with TestClient(create_app(settings)):
        until = time.monotonic() + 20
        while _case(api, case_id, op)["case"]["status"] != "corrected":
            assert time.monotonic() < until, _case(api, case_id, op)["case"]
            time.sleep(0.2)
