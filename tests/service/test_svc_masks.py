"""Learned masks on SQLite and PostgreSQL: false-detection dismissals of one camera, class and place
make a proposal (through the real review API); recomputing is idempotent; a supervisor accepts or
rejects (operators read, cannot decide), each a ledger entry that verifies; a rejected place stays
rejected until new dismissals there reach the count; the accepted masks come out as YAML lines that
the edge's own config model (detector.config.masks.Mask) takes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from detector.config.load import load_site_config
from detector.config.masks import Mask
from service import ledger, ledger_replay
from service.console.render import Page, console_tz
from service.console.view import ledger_detail
from service.models import LedgerEntry, utcnow
from service.schemas.ledger import LedgerEntryPublic
from tests.support.frame_pool import deliver
from tests.support.masks import dismissal
from tests.support.service_api import Api

ROOT = Path(__file__).resolve().parents[2]
PLACE = (300.0, 200.0, 360.0, 300.0)  # on a 640x360 still: the foot at (0.5156, 0.8333)


def review(api: Api, case_id: int, headers: dict[str, str], **body: object) -> None:
    r = api.client.post(f"/api/v1/cases/{case_id}/review", json=body, headers=headers)
    assert r.status_code == 200, r.text


def masks(api: Api, headers: dict[str, str], query: str = "") -> list[dict]:
    r = api.client.get(f"/api/v1/masks{query}", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def recompute(api: Api, headers: dict[str, str]) -> dict:
    r = api.client.post("/api/v1/masks/recompute", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def assert_ledger_agrees(api: Api) -> None:
    with api.session() as s:
        assert ledger.verify(s).ok
        replayed = ledger_replay.replay(s)
        assert replayed.ok, [d.message for d in replayed.differences]


def test_false_detection_reviews_propose_masks_other_dismissals_do_not(api: Api):
    dev = api.device()
    sup = api.user("supervisor")
    cases = [deliver(api, dev, n, label="ad_board")[0] for n in range(1, 6)]
    # 非违规 (the object is real): a plain dismissal, no hard negatives, no proposal
    for case_id in cases[:2]:
        review(api, case_id, sup, decision="dismiss", reason="非违规：目标属实但不违规")
    review(api, cases[2], sup, decision="dismiss", reason="误检", false_detection=True)
    review(api, cases[3], sup, decision="dismiss", reason="误检", false_detection=True)
    assert masks(api, sup) == []  # two false detections: below the count
    review(api, cases[4], sup, decision="dismiss", reason="误检", false_detection=True)
    found = masks(api, sup)
    # each case's stills box the object at two places (the first still, the confirmed one): two proposals
    assert len(found) == 2
    assert {(m["camera_id"], tuple(m["classes"]), m["status"]) for m in found} == {
        ("cam-09", ("ad_board",), "proposed")
    }
    assert all(m["case_ids"] == cases[2:] and m["dismissals"] == 3 for m in found)
    first = next(m for m in found if m["polygon"][0][0] < 0.5)
    # still-1's box (100, 120, 300, 400) on 640x480: its bottom part, padded by 0.02
    assert first["polygon"] == [[0.2143, 0.6675], [0.4107, 0.6675], [0.4107, 0.8534], [0.2143, 0.8534]]
    assert {e["frame_id"] is not None for e in first["evidence"]} == {True}
    # nothing new: recomputing changes nothing
    assert recompute(api, sup) == {"created": [], "updated": []}
    assert masks(api, sup) == found
    assert_ledger_agrees(api)


def test_roles_decisions_and_the_ledger(api: Api):
    op, sup = api.user("operator"), api.user("supervisor", username="sup-masks")
    for case_id in (11, 12, 13):
        dismissal(api.state, case_id=case_id, box=PLACE)
    for case_id in (21, 22, 23):
        dismissal(api.state, case_id=case_id, box=(20, 40, 80, 120), label="poster", camera_id="cam-06")
    assert recompute(api, sup)["created"] == [1, 2]
    assert [m["camera_id"] for m in masks(api, op)] == ["cam-06", "cam-05"]  # operators read, newest first
    assert [m["id"] for m in masks(api, op, "?status=proposed&camera_id=cam-05")] == [1]
    one = api.client.get("/api/v1/masks/1", headers=op)
    assert one.status_code == 200 and one.json()["case_ids"] == [11, 12, 13]
    for headers in (op, api.case_system(), api.device().headers):
        assert api.client.post("/api/v1/masks/1/accept", headers=headers).status_code == 403
        assert (
            api.client.post("/api/v1/masks/1/reject", json={"reason": "x"}, headers=headers).status_code
            == 403
        )
        assert api.client.post("/api/v1/masks/recompute", headers=headers).status_code == 403
    assert api.client.get("/api/v1/masks").status_code == 401
    assert api.client.get("/api/v1/masks", headers=api.case_system()).status_code == 403

    accepted = api.client.post("/api/v1/masks/1/accept", headers=sup)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["status"], body["decided_by"], body["reason"]) == ("accepted", "user:sup-masks", None)
    rejected = api.client.post(
        "/api/v1/masks/2/reject", json={"reason": "  是真实张贴物，需要执法 "}, headers=sup
    )
    assert rejected.status_code == 200 and rejected.json()["reason"] == "是真实张贴物，需要执法"
    again = api.client.post("/api/v1/masks/1/reject", json={"reason": "x"}, headers=sup)
    assert again.status_code == 409 and "accepted already" in again.json()["detail"]
    assert api.client.post("/api/v1/masks/99/accept", headers=sup).status_code == 404
    with api.session() as s:
        entries = {e.action: e for e in s.query(LedgerEntry).filter(LedgerEntry.action.like("mask_%"))}
    assert set(entries) == {"mask_accepted", "mask_rejected"}
    a = entries["mask_accepted"]
    assert (a.actor, a.case_id, a.seq) == ("user:sup-masks", None, body["decision_seq"])
    assert a.payload["camera_id"] == "cam-05" and a.payload["classes"] == ["ad_board"]
    assert a.payload["polygon"] == body["polygon"] and a.payload["cases"] == [11, 12, 13]
    assert (
        a.payload["proposal_id"] == 1
        and entries["mask_rejected"].payload["reason"] == "是真实张贴物，需要执法"
    )
    assert_ledger_agrees(api)
    v = api.client.get("/api/v1/ledger/verify", headers=sup).json()
    assert v["ok"] is True, v
    # the console words both entries, nothing left under "other"
    page = Page("zh-CN", console_tz(), "", None, "/", {})
    shown = {
        k: [p.text for p in ledger_detail(LedgerEntryPublic.model_validate(e), page)]
        for k, e in entries.items()
    }
    assert shown["mask_accepted"] == ["屏蔽区建议：1", "目标类别：广告牌", "误检次数：3"], shown
    assert shown["mask_rejected"][0].startswith("理由："), shown
    assert not any(t.startswith("其他") for texts in shown.values() for t in texts), shown


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reason"), ({"reason": "   "}, "reason required"), ({"reason": "x" * 2001}, "reason"),
     ({"reason": "x", "extra": 1}, "extra")],
)  # fmt: skip
def test_a_rejection_needs_a_reason(api: Api, body: dict, field: str):
    sup = api.user("supervisor")
    for case_id in (1, 2, 3):
        dismissal(api.state, case_id=case_id, box=PLACE)
    recompute(api, sup)
    r = api.client.post("/api/v1/masks/1/reject", json=body, headers=sup)
    assert r.status_code == 422 and field.split()[0] in r.text
    assert masks(api, sup)[0]["status"] == "proposed"


def test_a_rejected_place_stays_rejected_until_new_dismissals_reach_the_count(api: Api):
    sup = api.user("supervisor")
    for case_id in (1, 2, 3):
        dismissal(api.state, case_id=case_id, box=PLACE)
    recompute(api, sup)
    assert (
        api.client.post("/api/v1/masks/1/reject", json={"reason": "真实广告牌"}, headers=sup).status_code
        == 200
    )
    assert recompute(api, sup) == {"created": [], "updated": []}
    # two more at the same place after the rejection: not enough on their own
    for case_id in (4, 5):
        dismissal(api.state, case_id=case_id, box=(302, 201, 362, 301))
    assert recompute(api, sup) == {"created": [], "updated": []}
    # a dismissal dated before the rejection (a late label of an old case) does not count either
    dismissal(api.state, case_id=6, box=PLACE, at=utcnow() - dt.timedelta(days=1))
    assert recompute(api, sup) == {"created": [], "updated": []}
    dismissal(api.state, case_id=7, box=PLACE)  # the third new one after the rejection
    assert recompute(api, sup) == {"created": [2], "updated": []}
    new = api.client.get("/api/v1/masks/2", headers=sup).json()
    assert new["case_ids"] == [4, 5, 7] and new["status"] == "proposed"
    assert masks(api, sup, "?status=rejected")[0]["case_ids"] == [1, 2, 3]
    # an open proposal gains later dismissals at its place; nothing new: nothing changes
    dismissal(api.state, case_id=8, box=(305, 205, 361, 299))
    assert recompute(api, sup) == {"created": [], "updated": [2]}
    assert api.client.get("/api/v1/masks/2", headers=sup).json()["case_ids"] == [4, 5, 7, 8]
    assert recompute(api, sup) == {"created": [], "updated": []}
    # an accepted place is masked: dismissals there make nothing new
    assert api.client.post("/api/v1/masks/2/accept", headers=sup).status_code == 200
    for case_id in (9, 10, 11):
        dismissal(api.state, case_id=case_id, box=PLACE)
    assert recompute(api, sup) == {"created": [], "updated": []}


def test_only_dismissals_within_the_window_count(api: Api):
    sup = api.user("supervisor")
    old = utcnow() - dt.timedelta(days=15)  # the window is 14 days
    dismissal(api.state, case_id=1, box=PLACE, at=old)
    dismissal(api.state, case_id=2, box=PLACE)
    dismissal(api.state, case_id=3, box=PLACE)
    assert recompute(api, sup)["created"] == []
    dismissal(api.state, case_id=4, box=PLACE, at=utcnow() - dt.timedelta(days=13))
    assert recompute(api, sup)["created"] == [1]
    assert masks(api, sup)[0]["case_ids"] == [2, 3, 4]


def test_the_accepted_masks_as_yaml_lines_the_edge_takes(api: Api, tmp_path: Path):
    op, sup = api.user("operator"), api.user("supervisor", username="sup-yaml")
    for case_id in (1, 2, 3):
        dismissal(api.state, case_id=case_id, box=PLACE)
    for case_id in (4, 5, 6):
        dismissal(api.state, case_id=case_id, box=(0, 250, 40, 360), label="garbage")  # in the corner
    for case_id in (7, 8, 9):
        dismissal(api.state, case_id=case_id, box=(500, 10, 600, 90), label="banner")
    recompute(api, sup)
    empty = api.client.get("/api/v1/masks.yaml?camera_id=cam-05", headers=op)
    assert empty.status_code == 200 and yaml.safe_load(empty.text) == []
    ids = {m["classes"][0]: m["id"] for m in masks(api, op)}  # by camera and class: ad_board, banner, garbage
    for cls in ("ad_board", "garbage"):
        assert api.client.post(f"/api/v1/masks/{ids[cls]}/accept", headers=sup).status_code == 200
    api.client.post(f"/api/v1/masks/{ids['banner']}/reject", json={"reason": "真横幅"}, headers=sup)
    r = api.client.get("/api/v1/masks.yaml?camera_id=cam-05", headers=op)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    assert 'filename="masks-cam-05.yaml"' in r.headers["content-disposition"]
    items = TypeAdapter(list[Mask]).validate_python(yaml.safe_load(r.text))
    listed = {m["id"]: m for m in masks(api, op)}
    assert [(m.classes, [list(p) for p in m.polygon]) for m in items] == [
        (listed[ids[c]]["classes"], listed[ids[c]]["polygon"]) for c in ("ad_board", "garbage")
    ]
    assert f"# proposal {ids['ad_board']}, accepted by user:sup-yaml" in r.text
    # pasted under a camera's masks: in a site config, the edge's whole config takes it
    indented = "".join(f"      {line}\n" for line in r.text.splitlines())
    example = (ROOT / "configs" / "site.example.yaml").read_text(encoding="utf-8")
    line = next(x for x in example.splitlines(keepends=True) if x.startswith("    masks: []"))
    pasted = tmp_path / "site.yaml"
    pasted.write_text(example.replace(line, f"    masks:\n{indented}"), encoding="utf-8")
    site = load_site_config(pasted)
    assert [m.classes for m in site.cameras[0].masks] == [["ad_board"], ["garbage"]]
    for query in ("", "?camera_id=", "?camera_id=../x", "?camera_id=" + "c" * 65):
        assert api.client.get(f"/api/v1/masks.yaml{query}", headers=op).status_code == 422
