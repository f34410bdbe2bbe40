"""The console without a browser: every form post (good, bad, forged), roles, pages in both languages."""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.console.messages import CATALOGUE, translate
from service.models import Case, HitEventRow, LedgerEntry
from service.security import sign
from tests.support.console import OPERATOR, PASSWORD, SECRET, Client, World, csrf_of, sign_in


def case_row(world: World, case_id: int) -> tuple[str, str, str | None]:
    with world.session() as s:
        c = s.get(Case, case_id)
        assert c is not None
        return c.status, c.violation, c.review_reason


def ledger_of(world: World, case_id: int) -> list[LedgerEntry]:
    with world.session() as s:
        return list(s.execute(select(LedgerEntry).where(LedgerEntry.case_id == case_id)).scalars())


def post_form(client: TestClient, url: str, data: dict[str, str], page: str = "/") -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf": token, **data}, follow_redirects=False)


# --- the catalogue --------------------------------------------------------------------------------


def test_catalogue_has_both_languages_with_the_same_placeholders() -> None:
    fmt = string.Formatter()
    for key, (zh, en) in CATALOGUE.items():
        assert zh.strip() and en.strip(), key
        names = [{f for _, f, _, _ in fmt.parse(text) if f} for text in (zh, en)]
        assert names[0] == names[1], f"{key}: placeholders differ {names}"
    assert translate("zh-CN", "status.draft") == "待审核"
    assert translate("zh-CN", "violation.out_of_shop_trading") == "出店经营/跨门营业"
    with pytest.raises(KeyError):
        translate("en", "no.such.key")


def test_every_literal_key_in_templates_and_routes_is_in_the_catalogue() -> None:
    root = Path(__file__).resolve().parents[2] / "service" / "console"
    used: set[str] = set()
    for f in [
        *root.glob("templates/*.html"),
        *(root / name for name in ("routes.py", "view.py", "refusal.py")),
    ]:
        text = f.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']\s*[,)]""", text))
        used |= set(re.findall(r"""translate\([^,]+,\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']\s*[,)]""", text))
    assert len(used) > 80
    assert not used - set(CATALOGUE), sorted(used - set(CATALOGUE))


# --- sign-in --------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in_and_back(world: Client) -> None:
    _w, client = world
    r = client.get("/cases/1?s=draft", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fcases%2F1%3Fs%3Ddraft"
    page = client.get(r.headers["location"])
    assert "值班员登录" in page.text
    r = client.post(
        "/login",
        data={
            "csrf": csrf_of(page.text),
            "username": OPERATOR,
            "password": PASSWORD,
            "next": "/cases/1?s=draft",
        },
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/cases/1?s=draft")
    assert (
        "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    )
    assert client.get("/cases/1").status_code == 200


@pytest.mark.parametrize(
    ("username", "password", "status", "message"),
    [
        (OPERATOR, "wrong password", 401, "用户名或密码错误"),
        ("nobody", PASSWORD, 401, "用户名或密码错误"),
        ("", PASSWORD, 422, "请填写用户名和密码"),
        (OPERATOR, "", 422, "请填写用户名和密码"),
    ],
)
def test_sign_in_refused(world: Client, username: str, password: str, status: int, message: str) -> None:
    _w, client = world
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password},
        follow_redirects=False,
    )
    assert r.status_code == status
    assert message in r.text
    assert "nce_session" not in r.headers.get("set-cookie", "")


def test_sign_in_never_redirects_off_site(world: Client) -> None:
    _w, client = world
    page = client.get("/login")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.post(
            "/login",
            data={"csrf": csrf_of(page.text), "username": OPERATOR, "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/"


def test_sign_out_ends_the_session(world: Client) -> None:
    _w, client = world
    sign_in(client)
    r = post_form(client, "/logout", {})
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    # the old cookie value is dead on the server too
    assert client.get("/", follow_redirects=False).status_code == 303


# --- roles ----------------------------------------------------------------------------------------


def test_devices_and_case_systems_cannot_use_the_console(world: Client, password_hash: str) -> None:
    w, client = world
    case_id = w.cases["newest"]
    for headers in (w.device.headers, {"Authorization": f"Bearer {w.case_system_token()}"}):
        for url in ("/", f"/cases/{case_id}", "/dashboard"):
            r = client.get(url, headers=headers, follow_redirects=False)
            assert r.status_code == 403, url
            assert "不能使用审核台" in r.text
        token = csrf_of(client.get("/login").text)
        r = client.post(
            f"/cases/{case_id}/review",
            data={"csrf": token, "decision": "confirm"},
            headers=headers,
            follow_redirects=False,
        )
        assert r.status_code == 403
    assert case_row(w, case_id)[0] == "draft"
    supervisor = w.user("supervisor", "sup1", password_hash)
    assert client.get("/", headers={"Authorization": f"Bearer {supervisor}"}).status_code == 200


def test_anonymous_post_changes_nothing(world: Client) -> None:
    w, client = world
    token = csrf_of(client.get("/login").text)
    r = client.post(f"/cases/{w.cases['newest']}/review", data={"csrf": token, "decision": "confirm"})
    assert r.status_code == 401
    assert case_row(w, w.cases["newest"])[0] == "draft"


def test_a_forged_session_cookie_is_refused(world: Client) -> None:
    _w, client = world
    client.cookies.set("nce_session", sign("another secret 0123456789", "nceu_forged"))
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and "expired=1" in r.headers["location"]


# --- CSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["missing", "mismatch", "unsigned", "cross_origin", "null_origin"])
def test_csrf_rejections_change_nothing(world: Client, attack: str) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["newest"]
    token = csrf_of(client.get(f"/cases/{case_id}").text)
    data = {"decision": "confirm", "csrf": token}
    headers: dict[str, str] = {}
    if attack == "missing":
        del data["csrf"]
    elif attack == "mismatch":
        data["csrf"] = sign(SECRET, "some-other-token")
    elif attack == "unsigned":
        client.cookies.set("nce_csrf", "plain-value")
        data["csrf"] = "plain-value"
    elif attack == "cross_origin":
        headers["Origin"] = "http://evil.example"
    else:
        headers["Origin"] = "null"
    before = len(ledger_of(w, case_id))
    r = client.post(f"/cases/{case_id}/review", data=data, headers=headers, follow_redirects=False)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert case_row(w, case_id)[0] == "draft"
    assert len(ledger_of(w, case_id)) == before


def test_same_origin_post_is_accepted(world: Client) -> None:
    w, client = world
    sign_in(client)
    r = post_form(
        client, f"/cases/{w.cases['ad']}/review", {"decision": "confirm"}, page=f"/cases/{w.cases['ad']}"
    )
    assert r.status_code == 303
    r2 = client.post(
        f"/cases/{w.cases['newest']}/review",
        data={"decision": "confirm", "csrf": client.cookies["nce_csrf"]},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert r2.status_code == 303


# --- review ---------------------------------------------------------------------------------------


def test_confirm_with_a_corrected_violation_goes_to_the_ledger(world: Client) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["newest"]
    r = post_form(
        client, f"/cases/{case_id}/review?s=draft", {"decision": "confirm", "violation": "street_vending"}
    )
    # on to the next draft of the same queue (the desk's auto-advance), saying what was done
    following = f"/cases/{w.cases['ad']}?queue=status%3Ddraft&done=confirmed&done_id={case_id}"
    assert (r.status_code, r.headers["location"]) == (303, following)
    assert case_row(w, case_id)[:2] == ("confirmed", "street_vending")
    entry = ledger_of(w, case_id)[-1]
    assert entry.action == "case_reviewed" and entry.actor == f"user:{OPERATOR}"
    assert entry.payload["violation"] == {"from": "out_of_shop_trading", "to": "street_vending"}
    assert f"已确认案件 #{case_id}" in client.get(r.headers["location"]).text
    page = client.get(f"/cases/{case_id}").text
    assert "人工审核" in page and "设备原判" in page
    # the API (same cookie) sees the same
    api = client.get(f"/api/v1/cases/{case_id}").json()
    assert api["case"]["status"] == "confirmed" and api["ledger"][-1]["action"] == "case_reviewed"


def test_dismiss_with_a_common_reason_is_recorded_in_chinese(world: Client) -> None:
    w, client = world
    sign_in(client)
    client.get("/?lang=en")
    case_id = w.cases["ad"]
    r = post_form(
        client,
        f"/cases/{case_id}/review",
        {"decision": "dismiss", "reason_code": "permitted_hours", "reason": "周末"},
    )
    assert r.status_code == 303
    assert case_row(w, case_id) == ("dismissed", "illegal_ad", "外摆位许可时段；周末")
    assert ledger_of(w, case_id)[-1].payload["reason"] == "外摆位许可时段；周末"
    assert f"Case #{case_id} dismissed." in client.get(r.headers["location"]).text


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({}, 422, "未知的审核决定"),
        ({"decision": "approve"}, 422, "未知的审核决定"),
        ({"decision": "dismiss"}, 422, "驳回必须填写理由"),
        ({"decision": "dismiss", "reason": "   "}, 422, "驳回必须填写理由"),
        ({"decision": "dismiss", "reason": "x" * 2001}, 422, "理由过长"),
        ({"decision": "confirm", "violation": "speeding"}, 422, "未知的违法类型：speeding"),
        ({"decision": "dismiss", "reason_code": "because"}, 422, "未知的常用理由"),
        # the service's own rule (crud.review_case), after it has moved the case: rolled back
        (
            {"decision": "dismiss", "reason": "误检", "violation": "piled_goods"},
            422,
            "只有确认违法时才能更正",
        ),
    ],
)
def test_bad_review_input_is_shown_and_changes_nothing(
    world: Client, data: dict[str, str], status: int, message: str
) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["newest"]
    before = len(ledger_of(w, case_id))
    r = post_form(client, f"/cases/{case_id}/review", data, page=f"/cases/{case_id}")
    assert r.status_code == status
    assert message in r.text
    assert 'id="form-error"' in r.text and 'id="confirm-form"' in r.text  # the page, its forms still there
    assert case_row(w, case_id) == ("draft", "out_of_shop_trading", None)
    assert len(ledger_of(w, case_id)) == before


def test_reviewing_twice_is_a_conflict(world: Client) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["newest"]
    assert post_form(client, f"/cases/{case_id}/review", {"decision": "confirm"}).status_code == 303
    r = post_form(client, f"/cases/{case_id}/review", {"decision": "dismiss", "reason": "误检"})
    assert r.status_code == 409
    assert "操作未执行：案件当前为“已确认”" in r.text
    assert case_row(w, case_id)[0] == "confirmed"


def test_unknown_case(world: Client) -> None:
    _w, client = world
    sign_in(client)
    assert client.get("/cases/999").status_code == 404
    r = post_form(client, "/cases/999/review", {"decision": "confirm"})
    assert r.status_code == 404 and "案件 #999 不存在" in r.text


# --- notice ---------------------------------------------------------------------------------------


def test_notice_with_a_deadline_in_the_console_time_zone(world: Client) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["newest"]
    # a draft cannot get a notice
    r = post_form(client, f"/cases/{case_id}/notice", {"deadline": "2099-01-01T10:00"})
    assert r.status_code == 409
    post_form(client, f"/cases/{case_id}/review", {"decision": "confirm"})
    page = client.get(f"/cases/{case_id}").text
    assert 'id="notice-form"' in page
    r = post_form(
        client, f"/cases/{case_id}/notice", {"deadline": "2099-01-01T10:00", "note": "请于期限内整改"}
    )
    assert r.status_code == 303
    with w.session() as s:
        c = s.get(Case, case_id)
        assert c is not None and c.status == "notice_issued"
        assert c.notice_deadline == dt.datetime(2099, 1, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    entry = ledger_of(w, case_id)[-1]
    assert entry.action == "notice_issued" and entry.payload["note"] == "请于期限内整改"


@pytest.mark.parametrize(
    ("deadline", "message"),
    [
        ("", "整改期限格式无效"),
        ("next week", "整改期限格式无效"),
        ("2001-01-01T08:00", "整改期限必须晚于现在"),
    ],
)
def test_bad_deadlines_change_nothing(world: Client, deadline: str, message: str) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["newest"]
    post_form(client, f"/cases/{case_id}/review", {"decision": "confirm"})
    before = len(ledger_of(w, case_id))
    r = post_form(client, f"/cases/{case_id}/notice", {"deadline": deadline})
    assert r.status_code == 422 and message in r.text
    assert case_row(w, case_id)[0] == "confirmed"
    assert len(ledger_of(w, case_id)) == before


# --- pages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_renders(world: Client, lang: str) -> None:
    w, client = world
    sign_in(client)
    client.get(f"/?lang={lang}")
    words = {"zh-CN": ("待审核", "证据照片", "每日案件数"), "en": ("Draft", "Stills", "Cases per day")}[lang]
    queue = client.get("/")
    assert queue.status_code == 200 and words[0] in queue.text
    assert f'lang="{lang}"' in queue.text
    for case_id in w.cases.values():
        page = client.get(f"/cases/{case_id}")
        assert page.status_code == 200 and words[1] in page.text
    dash = client.get("/dashboard?days=30")
    assert dash.status_code == 200 and words[2] in dash.text and "<svg" in dash.text


def test_case_page_shows_evidence_party_basis_history(world: Client) -> None:
    w, client = world
    sign_in(client)
    html = client.get(f"/cases/{w.cases['newest']}").text
    stills = re.findall(
        r'data-raw="(/api/v1/evidence/[0-9a-f]{64})" data-annotated="(/api/v1/evidence/[0-9a-f]{64})"', html
    )
    assert len(stills) == 3 and all(raw != ann for raw, ann in stills)
    assert '<polygon points="0.0500,0.5500 0.6200,0.5500' in html  # the zone from the manifest
    assert re.search(r'<video id="clip"[^>]+src="/api/v1/evidence/[0-9a-f]{64}"', html)
    assert "老王水果店" in html and "310113-0001" in html
    assert 'id="legal-unverified"' in html and "未核实" in html
    assert "首次违法" in html and "既往案件 1 起" in html  # the confirmed piled_goods case before
    assert "接收证据包" in html  # the ingest's ledger entry
    assert "nce-street-test.onnx (abababababab)" in html and "持续时长" in html
    ad = client.get(f"/cases/{w.cases['ad']}").text
    assert "开业大酬宾 订购热线 13800001234" in ad and "13800001234</dd>" in ad
    # the evidence endpoint answers the session cookie
    r = client.get(stills[0][0])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    clip = re.search(r'<video id="clip"[^>]+src="([^"]+)"', html)
    assert clip is not None
    part = client.get(clip.group(1), headers={"Range": "bytes=0-99"})  # the browser seeks with ranges
    assert part.status_code == 206 and len(part.content) == 100 and part.content[4:8] == b"ftyp"


def test_queue_filters_and_counts(world: Client) -> None:
    w, client = world
    sign_in(client)
    html = client.get("/").text
    assert re.search(r'data-status="draft">待审核 <b>2</b>', html)
    assert re.search(r'data-status="confirmed">已确认 <b>1</b>', html)
    ids = [int(i) for i in re.findall(r'data-case="(\d+)"', html)]
    assert ids == sorted(ids, reverse=True) and w.cases["prior"] not in ids  # drafts, newest first
    only_ad = client.get("/?violation=illegal_ad").text
    assert re.findall(r'data-case="(\d+)"', only_ad) == [str(w.cases["ad"])]
    cam1 = client.get("/?status=all&camera=cam-01").text
    assert sorted(int(i) for i in re.findall(r'data-case="(\d+)"', cam1)) == sorted(
        [w.cases["prior"], w.cases["newest"]]
    )
    with w.session() as session:
        newest = session.get(Case, w.cases["newest"])
        assert newest is not None
        day = newest.first_seen.astimezone(ZoneInfo("Asia/Shanghai")).date()
    seen_that_day = client.get(f"/?status=all&date={day.isoformat()}").text
    old_day = client.get("/?status=all&date=2001-01-01").text
    assert len(re.findall(r'data-case="', old_day)) == 0 and "没有符合条件的案件" in old_day
    assert str(w.cases["newest"]) in re.findall(r'data-case="(\d+)"', seen_that_day)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=yesterday", "日期格式应为"),
        ("status=open", "筛选条件无效"),
        ("violation=x", "筛选条件无效"),
        ("delivery=pigeon", "筛选条件无效"),
        ("cursor=zzz", "翻页位置无效，已显示第一页"),
    ],
)
def test_bad_filters_are_explained(world: Client, query: str, message: str) -> None:
    _w, client = world
    sign_in(client)
    r = client.get(f"/?{query}")
    assert r.status_code == 422 and message in r.text


def test_language_switch_is_remembered(world: Client) -> None:
    _w, client = world
    sign_in(client)
    assert "待审队列" in client.get("/").text
    r = client.get("/?lang=en")
    assert "Review queue" in r.text and "nce_lang=en" in r.headers["set-cookie"]
    assert "Cases per day" in client.get("/dashboard").text
    assert 'href="/?lang=zh-CN"' in client.get("/").text
    assert "待审队列" in client.get("/?lang=zh-CN").text


def test_dashboard_confirm_rates(world: Client) -> None:
    w, client = world
    sign_in(client)
    post_form(
        client,
        f"/cases/{w.cases['newest']}/review",
        {"decision": "dismiss", "reason_code": "false_detection"},
    )
    html = client.get("/dashboard?lang=en").text
    # cam-01 (友谊路 东口, its name from the packages): the prior case confirmed, the newest dismissed -> 50 %
    assert re.search(r"友谊路 东口</text>.*?50%", html)
    assert "Piled goods · shop frontage" in html and "Out-of-shop trading · shop frontage" in html
    # recent activity: the dismissal (newest) above the earlier confirmation
    activity = html[html.index('id="activity"') :]
    # the reason is recorded in Chinese; the English page names the common reason in English
    assert activity.index("Reason: False detection: no such object") < activity.index("Draft → Confirmed")
    assert 'title="误检：画面中无此目标"' in activity
    assert f"user:{OPERATOR}" in activity


def test_pages_and_a_review_on_postgresql(pg_world: Client) -> None:
    w, client = pg_world
    sign_in(client)
    assert client.get("/").status_code == 200
    case_id = w.cases["newest"]
    assert "老王水果店" in client.get(f"/cases/{case_id}").text
    r = post_form(client, f"/cases/{case_id}/review", {"decision": "dismiss", "reason_code": "unclear"})
    assert r.status_code == 303
    assert case_row(w, case_id) == ("dismissed", "out_of_shop_trading", "画面不清")
    html = client.get("/dashboard?lang=en").text
    assert re.search(r"友谊路 东口</text>.*?50%", html) and "Out-of-shop trading · shop frontage" in html


def test_a_long_case_timeline_is_shortened(world: Client) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["ad"]
    with w.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        hit_id = s.execute(select(HitEventRow.hit_id).where(HitEventRow.case_id == case_id)).scalar_one()
        event = {
            "hit_id": hit_id,
            "site_id": case.site_id,
            "camera_id": case.camera_id,
            "zone_id": case.zone_id,
            "shop_id": case.shop_id,
            "violation": case.violation,
            "first_seen": case.first_seen.isoformat(),
            "dwell_s": 600.0,
            "sightings": 10,
            "track_id": 7,
            "label": "banner",
            "score": 0.9,
            "box": [10.0, 20.0, 200.0, 120.0],
        }
    for i in range(65):
        t = (case.last_seen + dt.timedelta(minutes=i + 1)).isoformat()
        r = client.post(
            "/api/v1/hits/events",
            json={**event, "event": "still_present", "ts": t, "last_seen": t},
            headers={**w.device.headers, "Idempotency-Key": f"still-{i}"},
        )
        assert r.status_code == 201, r.text
    html = client.get(f"/cases/{case_id}").text
    assert "另有 6 条未显示" in html  # 66 sightings: the first 10 and the last 50 shown
    timeline = html[html.index('id="timeline"') : html.index("</table>", html.index('id="timeline"'))]
    assert timeline.count("仍存在") == 9 + 50  # the package itself is the first sighting
    # the ledger below names each event in Chinese too
    ledger = html[html.index('id="ledger"') :]
    assert ledger.count("事件：仍存在") == 65 and "still_present" not in ledger
