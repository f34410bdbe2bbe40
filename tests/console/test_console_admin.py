"""Supervisors' and admins' pages over HTTP: the audit log (审计日志: chain status, filters, seq-cursor
pages, the JSON Lines download, a broken chain named), user management (list, add, disable, enable,
reset with a password shown once; roles and CSRF), the case page's export button (the API's zip, which
verifies offline; roles and statuses), and reviews per operator on the dashboard."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from nce.export_verify import verify_export
from service.console import audit
from service.console.render import console_tz
from service.models import LedgerEntry, User
from tests.support.console import PASSWORD, Client, World, csrf_of, sign_in

ADMIN, SUP, OP = "admin1", "sup1", "op1"


def as_user(w: World, client: Any, username: str, role: str, password_hash: str) -> None:
    with w.session() as s:
        exists = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if exists is None:
        w.user(role, username, password_hash)
    client.cookies.clear()
    sign_in(client, username)


def post_form(client: Any, url: str, data: dict[str, str] | None = None, page: str = "/") -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf": token, **(data or {})}, follow_redirects=False)


def entries(w: World, action: str | None = None) -> list[LedgerEntry]:
    with w.session() as s:
        q = select(LedgerEntry).order_by(LedgerEntry.seq)
        if action:
            q = q.where(LedgerEntry.action == action)
        return list(s.execute(q).scalars())


def seqs(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-seq="(\d+)"', html)]


# --- the audit log -------------------------------------------------------------------------------


def test_audit_log_is_for_supervisors(world: Client) -> None:
    _w, client = world
    sign_in(client)  # op1, an operator
    for url in ("/audit", "/audit.jsonl"):
        r = client.get(url)
        assert r.status_code == 403 and "只有主管和管理员可以查看审计日志" in r.text, url
    assert 'id="nav-audit"' not in client.get("/").text


def test_audit_log_newest_first_with_chain_status(world: Client, password_hash: str) -> None:
    w, client = world
    as_user(w, client, SUP, "supervisor", password_hash)
    r = client.get("/audit")
    assert r.status_code == 200
    all_seqs = [e.seq for e in entries(w)]
    assert seqs(r.text) == sorted(all_seqs, reverse=True)[: audit.PAGE_ROWS]
    assert 'id="chain-status" data-ok="1"' in r.text and f"共 {len(all_seqs)} 条记录" in r.text
    assert "接收证据包" in r.text and "人工审核" in r.text  # worded as on the case page
    assert 'id="nav-audit"' in r.text and 'id="nav-users"' not in r.text


def test_audit_log_pages_by_seq_cursor(
    world: Client, password_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, client = world
    as_user(w, client, SUP, "supervisor", password_hash)
    monkeypatch.setattr(audit, "PAGE_ROWS", 3)
    seen: list[int] = []
    url: str | None = "/audit"
    while url:
        html = client.get(url).text
        page = seqs(html)
        assert 0 < len(page) <= 3
        seen += page
        m = re.search(r'href="([^"]+)" id="audit-more"', html)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert seen == sorted((e.seq for e in entries(w)), reverse=True)


def test_audit_log_filters(world: Client, password_hash: str) -> None:
    w, client = world
    as_user(w, client, SUP, "supervisor", password_hash)
    all_entries = entries(w)
    reviewed = [e.seq for e in all_entries if e.action == "case_reviewed"]
    assert reviewed and seqs(client.get("/audit?action=case_reviewed").text) == reviewed[::-1]
    by_actor = [e.seq for e in all_entries if e.actor == "device:edge-01"]
    assert seqs(client.get("/audit?actor=device:edge-01").text) == by_actor[::-1]
    case_id = w.cases["ad"]
    of_case = [e.seq for e in all_entries if e.case_id == case_id]
    assert of_case and seqs(client.get(f"/audit?case={case_id}").text) == of_case[::-1]
    today = dt.datetime.now(console_tz()).date()
    assert seqs(client.get(f"/audit?date={today.isoformat()}").text) == [e.seq for e in all_entries][::-1]
    r = client.get(f"/audit?date={(today - dt.timedelta(days=3)).isoformat()}")
    assert seqs(r.text) == [] and 'id="audit-empty"' in r.text
    # the filters combine, and the cursor keeps them
    both = client.get(f"/audit?action=hit_ingested&case={case_id}").text
    assert (
        seqs(both)
        == [e.seq for e in all_entries if e.case_id == case_id and e.action == "hit_ingested"][::-1]
    )


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("case=abc", "case='abc'"),
        ("date=2026-13-01", "date='2026-13-01'"),
        ("action=drop%20table", "action='drop table'"),
        ("before=-1", "before"),
    ],
)
def test_bad_audit_filters_are_explained(world: Client, password_hash: str, query: str, shown: str) -> None:
    w, client = world
    as_user(w, client, SUP, "supervisor", password_hash)
    r = client.get(f"/audit?{query}")
    assert r.status_code == 422 and "筛选条件无效" in r.text and shown in r.text.replace("&#39;", "'")


def test_audit_download_is_json_lines_of_the_filtered_entries(world: Client, password_hash: str) -> None:
    w, client = world
    as_user(w, client, SUP, "supervisor", password_hash)
    html = client.get(f"/audit?case={w.cases['ad']}").text
    link = re.search(r'href="([^"]+)" id="audit-download"', html)
    assert link is not None
    r = client.get(link.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.text.splitlines()]
    expected = [e for e in entries(w) if e.case_id == w.cases["ad"]][::-1]
    assert [x["seq"] for x in lines] == [e.seq for e in expected]
    assert [x["hash"] for x in lines] == [e.hash for e in expected]
    everything = client.get("/audit.jsonl").text.splitlines()
    assert len(everything) == len(entries(w))


def test_a_broken_chain_is_named_at_the_top(world: Client, password_hash: str) -> None:
    w, client = world
    as_user(w, client, SUP, "supervisor", password_hash)
    victim = entries(w, "case_reviewed")[0]
    with w.state.engine.begin() as conn:
        payload = dict(victim.payload, reason="edited later")
        conn.execute(
            text("UPDATE ledger SET payload = :p WHERE seq = :s"), {"p": json.dumps(payload), "s": victim.seq}
        )
    r = client.get("/audit")
    assert 'id="chain-status" data-ok="0"' in r.text
    assert f"第 {victim.seq} 条起无法验证" in r.text


def _edit(w: World, victim: LedgerEntry, payload: dict[str, Any] | None = None) -> None:
    """Rewrite an entry's payload behind the service's back (``payload``: put it back)."""
    new = payload if payload is not None else dict(victim.payload, reason="edited later")
    with w.state.engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger SET payload = :p WHERE seq = :s"), {"p": json.dumps(new), "s": victim.seq}
        )


def chain_status(html: str) -> str:
    m = re.search(r'<p[^>]*id="chain-status".*?</p>', html, re.S)
    assert m is not None
    return m.group(0)


def test_the_audit_page_hashes_the_whole_chain_only_now_and_then(
    world: Client, password_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A visit re-hashes only the entries added since the last intact check (none while the head is
    the same); the whole chain at most every WHOLE_EVERY_S, which is when an old edit shows."""
    w, client = world
    as_user(w, client, SUP, "supervisor", password_hash)
    assert 'data-ok="1"' in chain_status(client.get("/audit").text)
    assert 'id="chain-checked-at"' in chain_status(client.get("/audit").text)
    # an entry added since is checked on the next visit, chained from the remembered head
    before = entries(w)[-1].seq
    r = post_form(client, f"/cases/{w.cases['newest']}/review", {"decision": "confirm"}, page="/")
    assert r.status_code == 303, r.text[-500:]
    added = entries(w)[-1]
    assert added.seq > before
    _edit(w, added)
    assert f"第 {added.seq} 条起无法验证" in chain_status(client.get("/audit").text)
    _edit(w, added, added.payload)  # put back: intact again, checked whole (a broken result is not kept)
    assert 'data-ok="1"' in chain_status(client.get("/audit").text)
    old = entries(w, "case_reviewed")[0]
    assert old.seq <= before
    _edit(w, old)  # an old entry edited behind the service's back
    assert 'data-ok="1"' in chain_status(client.get("/audit").text)  # same head: old entries not re-hashed
    monkeypatch.setattr(audit, "WHOLE_EVERY_S", 0.0)  # the whole chain is due: the old edit shows
    assert f"第 {old.seq} 条起无法验证" in chain_status(client.get("/audit").text)


# --- users ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("username", "role"), [(OP, "operator"), (SUP, "supervisor")])
def test_user_management_is_for_admins(world: Client, password_hash: str, username: str, role: str) -> None:
    w, client = world
    as_user(w, client, username, role, password_hash)
    assert client.get("/admin/users").status_code == 403
    token = csrf_of(client.get("/").text)
    before = len(entries(w))
    posts = {
        "/admin/users": {"username": "mallory", "role": "admin", "password": "x" * 20, "repeat": "x" * 20},
        f"/admin/users/{ADMIN}/disable": {},
        f"/admin/users/{OP}/reset": {},
    }
    for url, data in posts.items():
        r = client.post(url, data={"csrf": token, **data}, follow_redirects=False)
        assert r.status_code == 403 and "只有管理员可以管理账户" in r.text, url
    assert len(entries(w)) == before


def test_admin_lists_adds_disables_enables(world: Client, password_hash: str) -> None:
    w, client = world
    as_user(w, client, ADMIN, "admin", password_hash)
    page = client.get("/admin/users")
    assert page.status_code == 200 and 'data-user="op1"' in page.text and 'id="nav-users"' in page.text
    new = "newbie"
    r = post_form(
        client,
        "/admin/users",
        {"username": new, "role": "operator", "password": PASSWORD, "repeat": PASSWORD},
        "/admin/users",
    )
    assert r.status_code == 303
    done = client.get(r.headers["location"])
    assert f"已新增账户 {new}" in done.text and f'data-user="{new}"' in done.text
    added = entries(w, "user_added")[-1]
    assert added.actor == f"user:{ADMIN}" and added.payload == {"username": new, "role": "operator"}
    assert PASSWORD not in json.dumps(added.payload) and PASSWORD not in done.text
    # disable: the person's sessions end; enable again
    other = client.__class__(w.app)
    sign_in(other, new)
    assert other.get("/").status_code == 200
    r = post_form(client, f"/admin/users/{new}/disable", page="/admin/users")
    assert r.status_code == 303 and "n=1" in r.headers["location"]
    assert other.get("/", follow_redirects=False).status_code == 303  # signed out
    assert entries(w, "user_disabled")[-1].payload == {"username": new, "sessions_ended": 1}
    assert f'data-user="{new}" data-enabled="0"' in client.get("/admin/users").text
    r = post_form(client, f"/admin/users/{new}/enable", page="/admin/users")
    assert r.status_code == 303 and entries(w, "user_enabled")[-1].actor == f"user:{ADMIN}"
    sign_in(other, new)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (
            {"username": OP, "role": "operator", "password": PASSWORD, "repeat": PASSWORD},
            409,
            "账户 op1 已存在",
        ),
        (
            {"username": "bob", "role": "operator", "password": PASSWORD, "repeat": PASSWORD + "x"},
            422,
            "两次输入的密码不一致",
        ),
        (
            {"username": "bob", "role": "king", "password": PASSWORD, "repeat": PASSWORD},
            422,
            "未新增：role must be one of",
        ),
        ({"username": "bob", "role": "operator", "password": "short", "repeat": "short"}, 422, "未新增："),
        (
            {"username": "../bob", "role": "operator", "password": PASSWORD, "repeat": PASSWORD},
            422,
            "未新增：username",
        ),
    ],
)
def test_bad_new_users_are_refused_and_change_nothing(
    world: Client, password_hash: str, data: dict[str, str], status: int, message: str
) -> None:
    w, client = world
    as_user(w, client, ADMIN, "admin", password_hash)
    before = len(entries(w))
    r = post_form(client, "/admin/users", data, "/admin/users")
    assert r.status_code == status and message in r.text, r.text[-2000:]
    assert len(entries(w)) == before


def test_reset_shows_a_temporary_password_once(world: Client, password_hash: str) -> None:
    w, client = world
    as_user(w, client, ADMIN, "admin", password_hash)
    r = post_form(client, f"/admin/users/{OP}/reset", page="/admin/users")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    m = re.search(r'id="temporary-password">([^<]+)<', r.text)
    assert m is not None
    temporary = m.group(1)
    assert temporary not in client.get("/admin/users").text  # never shown again
    entry = entries(w, "password_reset")[-1]
    assert entry.actor == f"user:{ADMIN}" and temporary not in json.dumps(entry.payload)
    person = client.__class__(w.app)
    sign_in(person, OP, temporary)
    assert person.get("/", follow_redirects=False).headers["location"] == "/account/password"


def test_an_admin_cannot_disable_themselves_and_unknown_users_are_404(
    world: Client, password_hash: str
) -> None:
    w, client = world
    as_user(w, client, ADMIN, "admin", password_hash)
    r = post_form(client, f"/admin/users/{ADMIN}/disable", page="/admin/users")
    assert r.status_code == 409 and "不能停用自己的账户" in r.text
    r = post_form(client, "/admin/users/ghost/reset", page="/admin/users")
    assert r.status_code == 404 and "账户 ghost 不存在" in r.text


def test_user_forms_need_the_csrf_token(world: Client, password_hash: str) -> None:
    w, client = world
    as_user(w, client, ADMIN, "admin", password_hash)
    before = len(entries(w))
    for url in (f"/admin/users/{OP}/disable", f"/admin/users/{OP}/reset", "/admin/users"):
        r = client.post(
            url, data={"csrf": "forged", "username": "x", "role": "operator"}, follow_redirects=False
        )
        assert r.status_code == 403 and "CSRF" in r.text, url
    assert len(entries(w)) == before


# --- the export button ---------------------------------------------------------------------------


def test_export_button_streams_the_api_zip_which_verifies(
    world: Client, password_hash: str, tmp_path: Path
) -> None:
    w, client = world
    confirmed, draft = w.cases["prior"], w.cases["newest"]
    sign_in(client)  # an operator sees no button and may not post
    assert 'id="export-btn"' not in client.get(f"/cases/{confirmed}").text
    r = post_form(client, f"/cases/{confirmed}/export", page=f"/cases/{confirmed}")
    assert r.status_code == 403 and "当前账户无权执行此操作" in r.text
    as_user(w, client, SUP, "supervisor", password_hash)
    assert 'id="export-btn"' not in client.get(f"/cases/{draft}").text
    page = client.get(f"/cases/{confirmed}").text
    assert 'id="export-btn"' in page
    r = post_form(client, f"/cases/{confirmed}/export", page=f"/cases/{confirmed}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f'filename="nce-case-{confirmed}.zip"' in r.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert {
        "README.txt",
        "README.zh-CN.txt",
        "证据清单.html",
        "devices/index.json",
        "devices/edge-01.pub",
    } <= set(names)
    path = tmp_path / "case.zip"
    path.write_bytes(r.content)
    report = verify_export(path)
    assert report.problems == [] and report.packages
    exported = entries(w, "case_exported")[-1]
    assert exported.actor == f"user:{SUP}" and exported.case_id == confirmed
    assert client.get(f"/cases/{confirmed}").text.count('data-status="exported"') == 1
    # a draft cannot be exported: the page says why
    r = post_form(client, f"/cases/{draft}/export", page=f"/cases/{draft}")
    assert r.status_code == 409 and "操作未执行：与案件当前状态冲突" in r.text


# --- reviews per operator --------------------------------------------------------------------------


def test_dashboard_shows_reviews_per_operator(world: Client, password_hash: str) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["ad"]
    r = post_form(
        client,
        f"/cases/{case_id}/review",
        {"decision": "dismiss", "reason_code": "unclear"},
        f"/cases/{case_id}",
    )
    assert r.status_code == 303
    html = client.get("/dashboard").text
    row = re.search(r'<tr data-actor="user:op1">(.*?)</tr>', html, flags=re.S)
    assert row is not None, html[-3000:]
    cells = dict(re.findall(r'<td class="num (\w+)">([^<]*)</td>', row.group(1)))
    assert (
        cells["today"] == "1"
        and cells["week"] == "1"
        and cells["dismissed"] == "1"
        and cells["confirmed"] == "0"
    )
    assert cells["median"].endswith("分钟") or cells["median"].endswith("小时")
    # the seeded 'prior' review (by supervisor1, straight through the data function) is its own row
    assert 'data-actor="user:supervisor1"' in html
