"""The review desk without a browser: auto-advance keeping the queue's filter, a supervisor's revert
(inside and outside the window, roles, the ledger, the frame pool, ``ledger verify`` after it), the
queue's search and the bulk dismissal."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from service import ledger, ledger_replay
from service.auth import Principal
from service.crud import masks, review_revert
from service.models import Case, Frame, FrameLabel
from service.schemas.cases import RevertIn
from service.settings import Settings, SettingsError
from tests.console.test_console_forms import case_row, ledger_of, post_form
from tests.support.console import PASSWORD, Client, World, sign_in

SUPERVISOR = "sup1"


def supervisor(w: World, client: Client | object, password_hash: str) -> None:
    w.user("supervisor", SUPERVISOR, password_hash)


def verify(w: World) -> None:
    with w.session() as s:
        assert ledger.verify(s).ok
        result = ledger_replay.replay(s)
        # the test world adds its shops straight to the table (no ledger entry): cases are what counts
        assert result.cases >= 3
        assert [d.message for d in result.differences if d.shop_id is None] == []


def review(client: object, case_id: int, data: dict[str, str]) -> str:
    r = post_form(client, f"/cases/{case_id}/review", data)  # type: ignore[arg-type]
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


# --- auto-advance ---------------------------------------------------------------------------------


def test_after_a_review_the_next_draft_of_the_filtered_queue_opens(world: Client) -> None:
    w, client = world
    sign_in(client)
    newest, ad = w.cases["newest"], w.cases["ad"]
    # the queue filtered to cam-01: the only other draft there is none (ad is cam-02): the page stays
    r = post_form(
        client, f"/cases/{newest}/review?queue=status%3Ddraft%26camera%3Dcam-01", {"decision": "confirm"}
    )
    assert (
        r.headers["location"]
        == f"/cases/{newest}?queue=status%3Ddraft%26camera%3Dcam-01&end=1&done=confirmed"
    )
    page = client.get(r.headers["location"]).text
    assert "队列中已没有待审核案件" in page and 'href="/?status=draft&amp;camera=cam-01"' in page
    # a forged queue value is read by the queue's parser: unknown values dropped, never a URL
    r = post_form(
        client,
        f"/cases/{ad}/review?queue=status%3Dnope%26violation%3Dx%26q%3D%2F%2Fevil.example",
        {"decision": "dismiss", "reason_code": "unclear"},
    )
    assert r.headers["location"].startswith(f"/cases/{ad}?queue=status%3Ddraft%26q%3D%252F%252Fevil.example")


# --- revert ---------------------------------------------------------------------------------------


def test_a_supervisor_reverts_a_review_within_the_window(world: Client, password_hash: str) -> None:
    w, client = world
    case_id = w.cases["newest"]
    sign_in(client)
    review(client, case_id, {"decision": "confirm", "violation": "street_vending"})
    with w.session() as s:
        review_labels = (
            s.execute(
                select(FrameLabel).where(FrameLabel.case_id == case_id, FrameLabel.how == "review_confirm")
            )
            .scalars()
            .all()
        )
    assert review_labels, "the confirm labelled the stills in the frame pool"
    # an operator may not revert
    r = post_form(client, f"/cases/{case_id}/revert", {"reason": "看错了"}, page=f"/cases/{case_id}")
    assert r.status_code == 403 and case_row(w, case_id)[0] == "confirmed"
    assert "撤销审核" not in client.get(f"/cases/{case_id}").text.split('id="ledger"')[0]
    client.post("/logout", data={"csrf": ""}, follow_redirects=False)
    client.cookies.clear()
    w.user("supervisor", SUPERVISOR, password_hash)
    sign_in(client, SUPERVISOR, PASSWORD)
    page = client.get(f"/cases/{case_id}").text
    assert 'id="revert-form"' in page and "可撤销至" in page
    # a reason is required
    r = post_form(client, f"/cases/{case_id}/revert", {"reason": "  "}, page=f"/cases/{case_id}")
    assert r.status_code == 422 and "撤销审核必须填写理由" in r.text
    r = post_form(client, f"/cases/{case_id}/revert", {"reason": "误点确认"}, page=f"/cases/{case_id}")
    assert r.status_code == 303 and "done=reverted" in r.headers["location"]
    status, violation, reason = case_row(w, case_id)
    assert (status, violation, reason) == ("draft", "out_of_shop_trading", None)  # the correction undone
    entry = ledger_of(w, case_id)[-1]
    assert entry.action == "review_reverted" and entry.actor == f"user:{SUPERVISOR}"
    assert entry.payload["from"] == "confirmed" and entry.payload["to"] == "draft"
    assert entry.payload["reason"] == "误点确认" and entry.payload["frames_withdrawn"] == len(review_labels)
    with w.session() as s:
        latest = {
            lab.frame_id: lab for lab in s.execute(select(FrameLabel).order_by(FrameLabel.id)).scalars()
        }
    withdrawn = [latest[lab.frame_id] for lab in review_labels]
    assert all(lab.how == "review_revert" and lab.boxes == [] for lab in withdrawn)
    with w.session() as s:  # the review brought those frames: nobody labelled them
        assert {s.get(Frame, lab.frame_id).status for lab in review_labels} == {"unlabelled"}  # type: ignore[union-attr]
    for lab in review_labels:  # no labels: the labelling page pre-fills the detections, not nothing
        frame = client.get(f"/api/v1/frames/{lab.frame_id}").json()
        assert frame["status"] == "unlabelled" and frame["labels"] is None
    page = client.get(r.headers["location"]).text
    assert f"已撤销案件 #{case_id} 的审核" in page
    ledger_html = page[page.index('id="ledger"') :]
    assert "撤销审核" in ledger_html and "已确认 → 待审核" in ledger_html and "理由：误点确认" in ledger_html
    assert (
        f"撤销的审核记录：{entry.payload['review_seq']}" in ledger_html and "撤回样本帧标注：" in ledger_html
    )
    activity = client.get("/dashboard").text
    assert "撤销审核" in activity[activity.index('id="activity"') :]
    en = client.get(f"/cases/{case_id}?lang=en").text
    en = en[en.index('id="ledger"') :]
    assert "review reverted" in en and "Review entry undone" in en and "Frame labels withdrawn" in en
    client.get(f"/cases/{case_id}?lang=zh-CN")
    verify(w)
    # a draft again: it can be reviewed again, and verify still agrees
    review(client, case_id, {"decision": "dismiss", "reason_code": "false_detection"})
    assert case_row(w, case_id)[0] == "dismissed"
    verify(w)
    # the API: the same rule, 409 outside the window
    with w.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.reviewed_at is not None
        case.reviewed_at = case.reviewed_at - dt.timedelta(
            seconds=w.state.settings.review_revert_window_s + 1
        )
        s.commit()
    assert 'id="revert-form"' not in client.get(f"/cases/{case_id}").text
    r = post_form(client, f"/cases/{case_id}/revert", {"reason": "太晚了"}, page=f"/cases/{case_id}")
    assert r.status_code == 409 and case_row(w, case_id)[0] == "dismissed"
    error = re.search(r'id="form-error">([^<]*)<', r.text)
    assert error and "\n" not in error.group(1) and error.group(1).strip()
    assert ledger_of(w, case_id)[-1].action == "case_reviewed"


@pytest.mark.parametrize(
    ("setup", "role", "status", "words"),
    [
        ("late", "supervisor", 409, "can be reverted only within"),
        ("notice", "supervisor", 409, "notice_issued"),
        ("draft", "supervisor", 409, "is draft"),
        ("fresh", "operator", 403, "may not"),
        ("fresh", "admin", 200, ""),
    ],
)
def test_revert_through_the_api(
    world: Client, password_hash: str, setup: str, role: str, status: int, words: str
) -> None:
    w, client = world
    case_id = w.cases["newest"]
    token = w.user(role, f"{role}-x", password_hash)
    reviewer = w.user("operator", "op-x", password_hash)
    auth = {"Authorization": f"Bearer {reviewer}"}
    if setup != "draft":
        assert (
            client.post(
                f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=auth
            ).status_code
            == 200
        )
    if setup == "notice":
        due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        assert (
            client.post(f"/api/v1/cases/{case_id}/notice", json={"deadline": due}, headers=auth).status_code
            == 200
        )
    if setup == "late":
        with w.session() as s:
            case = s.get(Case, case_id)
            assert case is not None and case.reviewed_at is not None
            case.reviewed_at -= dt.timedelta(seconds=901)
            s.commit()
    r = client.post(
        f"/api/v1/cases/{case_id}/revert",
        json={"reason": "复核"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["status"] == "draft"
        verify(w)
    else:
        assert words in r.text
        assert ledger_of(w, case_id)[-1].action != "review_reverted"


def test_the_window_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCE_REVIEW_REVERT_WINDOW_S", "60")
    assert Settings.load(demo=True).review_revert_window_s == 60
    assert Settings(demo=True).review_revert_window_s == 900
    monkeypatch.setenv("NCE_REVIEW_REVERT_WINDOW_S", "-1")
    with pytest.raises(SettingsError, match="review_revert_window_s"):
        Settings.load(demo=True)


# --- search ---------------------------------------------------------------------------------------


def queue_ids(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'data-case="(\d+)"', html)}


@pytest.mark.parametrize(
    ("q", "expect"),
    [
        ("老王", {"prior", "newest"}),  # a shop's name
        ("S-0002", {"ad"}),  # a shop's id
        ("友谊路 92", {"ad"}),  # an address
        ("cam-02", {"ad"}),  # a camera
        ("#ID:ad", {"ad"}),  # a case id, with or without #
        ("ID:newest", {"newest"}),
        ("100%", set()),  # % and _ match themselves
        ("__", set()),
        ("nothing-like-this", set()),
    ],
)
def test_search(world: Client, q: str, expect: set[str]) -> None:
    w, client = world
    sign_in(client)
    for name, case_id in w.cases.items():
        q = q.replace(f"ID:{name}", str(case_id))
    r = client.get("/", params={"status": "all", "q": q})
    assert r.status_code == 200
    assert queue_ids(r.text) == {w.cases[n] for n in expect}, q


# --- bulk dismissal -------------------------------------------------------------------------------


def test_bulk_dismiss_asks_then_dismisses_each(world: Client) -> None:
    w, client = world
    sign_in(client)
    ids = [w.cases["newest"], w.cases["ad"]]
    queue = client.get("/").text
    assert 'id="bulk-form"' in queue and queue.count('name="case"') == 2
    form = {
        "case": [str(i) for i in ids],
        "reason_code": "false_detection",
        "reason": "树影",
        "queue": "status=draft",
    }
    before = len(ledger_of(w, ids[0]))
    r = post_form(client, "/cases/bulk-dismiss", form)  # type: ignore[arg-type]
    assert (
        r.status_code == 200 and "确认驳回以下 2 件案件" in r.text and "误检：画面中无此目标；树影" in r.text
    )
    assert case_row(w, ids[0])[0] == "draft" and len(ledger_of(w, ids[0])) == before  # nothing yet
    r = post_form(client, "/cases/bulk-dismiss", {**form, "confirmed": "1"})  # type: ignore[arg-type]
    assert r.status_code == 303 and r.headers["location"] == "/?status=draft&bulk=2&bulk_failed=0"
    for i in ids:
        assert case_row(w, i) == ("dismissed", case_row(w, i)[1], "误检：画面中无此目标；树影")
        entry = ledger_of(w, i)[-1]
        assert entry.action == "case_reviewed" and entry.payload["false_detection"] is True
    assert "已批量驳回 2 件" in client.get(r.headers["location"]).text
    # again: both are dismissed already, none goes through
    r = post_form(client, "/cases/bulk-dismiss", {**form, "confirmed": "1"})  # type: ignore[arg-type]
    assert r.headers["location"].endswith("bulk=0&bulk_failed=2")
    verify(w)


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"reason_code": "unclear"}, "没有选择案件"),
        ({"case": ["x", "-1"], "reason_code": "unclear"}, "没有选择案件"),
        ({"case": [str(i) for i in range(1, 150)], "reason_code": "unclear"}, "一次最多驳回 100 件"),
        ({"case": ["1"], "reason_code": "nope"}, "理由"),
        ({"case": ["1"]}, "驳回必须填写理由"),
    ],
)
def test_bulk_dismiss_refuses_bad_forms(world: Client, form: dict[str, object], words: str) -> None:
    w, client = world
    sign_in(client)
    r = post_form(client, "/cases/bulk-dismiss", {**form, "confirmed": "1"})  # type: ignore[dict-item]
    assert r.status_code == 422 and words in r.text
    assert all(case_row(w, i)[0] != "dismissed" for i in w.cases.values())


def test_bulk_dismiss_needs_csrf(world: Client) -> None:
    w, client = world
    sign_in(client)
    r = client.post(
        "/cases/bulk-dismiss", data={"case": [str(w.cases["ad"])], "reason_code": "unclear", "confirmed": "1"}
    )
    assert r.status_code == 403 and case_row(w, w.cases["ad"])[0] == "draft"


def test_a_reverted_false_detection_no_longer_counts_for_a_mask(world: Client) -> None:
    w, client = world
    case_id = w.cases["newest"]
    sign_in(client)
    review(client, case_id, {"decision": "dismiss", "reason_code": "false_detection"})
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with w.session() as s:
        assert case_id in {d.case_id for d in masks.dismissals(s, since=since)}
        review_revert.revert_review(
            s,
            principal=Principal("user", "sup", "supervisor"),
            case_id=case_id,
            data=RevertIn(reason="不是误检"),
            window_s=900,
        )
        assert case_id not in {d.case_id for d in masks.dismissals(s, since=since)}
    # dismissed again: it counts again
    review(client, case_id, {"decision": "dismiss", "reason_code": "false_detection"})
    with w.session() as s:
        assert case_id in {d.case_id for d in masks.dismissals(s, since=since)}
    verify(w)


def test_search_bulk_dismiss_and_revert_on_postgresql(pg_world: Client, password_hash: str) -> None:
    w, client = pg_world
    sign_in(client)
    ad, newest = w.cases["ad"], w.cases["newest"]
    for q, expect in (
        ("友谊路 92", {ad}),
        (f"#{ad}", {ad}),
        ("老王", {w.cases["prior"], newest}),
        ("50%", set()),
    ):
        assert queue_ids(client.get("/", params={"status": "all", "q": q}).text) == expect, q
    form = {"case": [str(ad)], "reason_code": "unclear", "queue": "status=draft&q=友谊路", "confirmed": "1"}
    r = post_form(client, "/cases/bulk-dismiss", form)  # type: ignore[arg-type]
    assert r.status_code == 303 and r.headers["location"].endswith("bulk=1&bulk_failed=0")
    assert case_row(w, ad) == ("dismissed", "illegal_ad", "画面不清")
    token = w.user("supervisor", "sup-pg", password_hash)
    bearer = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/api/v1/cases/{ad}/revert", json={"reason": "批量选错"}, headers=bearer)
    assert r.status_code == 200 and r.json()["status"] == "draft"
    r = client.post(f"/api/v1/cases/{ad}/revert", json={"reason": "再来"}, headers=bearer)
    assert r.status_code == 409 and "is draft" in r.text
    verify(w)
