"""Every word an operator reads comes from the catalogue: ledger entries of every kind on the case page and
the dashboard (field names, statuses, violations, events, reasons, times), and the service's refusals."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import logging
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from nce.manifest._model import EventInfo
from nce.times import utc_ms
from nce.vocabulary import VIOLATIONS
from service import ledger, workflow
from service.case_status import CASE_STATUSES
from service.console.messages import CATALOGUE, LANGS, Lang, translate
from service.console.queries import ACTIVITY_ACTIONS
from service.console.refusal import INVALID_FIELDS, explain
from service.console.render import Page, console_tz
from service.console.view import LEDGER_FIELDS, LEDGER_HIDDEN, ledger_detail
from service.crud import case_actions
from service.crud.case_actions import sweep_deadlines
from service.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMedia,
)
from service.models import Case, LedgerEntry
from service.schemas.ledger import LedgerEntryPublic
from tests.support.console import Client, World, csrf_of, sign_in

SERVICE = Path(__file__).resolve().parents[2] / "service"
PACKAGE_ID = re.compile(r"\bedge-01-\d{8}\b")


def post_form(client: TestClient, url: str, data: dict[str, str], page: str = "/") -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf": token, **data}, follow_redirects=False)


def cells(html: str, cls: str) -> list[str]:
    """The visible text of the ``<td class=cls>`` cells (tooltips are attributes, so not visible)."""
    out = []
    for inner in re.findall(rf'<td class="{cls}">(.*?)</td>', html, flags=re.S):
        out.append(htmllib.unescape(re.sub(r"<[^>]+>", "", inner)).strip())
    return out


def section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</table>", start)]


# --- ledger entries of every kind -----------------------------------------------------------------

FUTURE = {  # an action and fields this console does not know yet
    "from": "escalated",
    "to": "draft",
    "reopen_ticket": "T-0042",
    "reopened_because": "复核",
    "attachments": ["a.pdf", "b.pdf"],
    "urgent": True,
}


def ledger_of_every_kind(w: World, client: TestClient) -> tuple[int, set[str]]:
    """Through the console and the service: a corrected confirm, a notice, a deadline outcome, a
    dismissal with a common reason; appended as the service writes them: a hit event, an ingest's
    transition, an export, a package with a chain gap, and an entry of the future. Returns the case and
    every payload key written."""
    sign_in(client)
    case_id, other = w.cases["newest"], w.cases["ad"]
    ok = post_form(client, f"/cases/{case_id}/review", {"decision": "confirm", "violation": "street_vending"})
    assert ok.status_code == 303
    notice = {"deadline": "2099-01-01T10:00", "note": "请于期限内整改"}
    assert post_form(client, f"/cases/{case_id}/notice", notice).status_code == 303
    dismiss = {"decision": "dismiss", "reason_code": "permitted_hours", "reason": "周末"}
    assert post_form(client, f"/cases/{other}/review", dismiss).status_code == 303
    with w.session() as s:  # cleared after the notice, not seen since: corrected at the deadline
        case = s.get(Case, case_id)
        assert case is not None and case.notice_issued_at is not None
        case.cleared_at = case.notice_issued_at + dt.timedelta(seconds=1)
        s.commit()
        assert sweep_deadlines(s, now=dt.datetime(2099, 1, 2, tzinfo=dt.UTC)) == [(case_id, "corrected")]
    seen = dt.datetime(2099, 1, 3, 1, 2, 3, tzinfo=dt.UTC)
    with w.session() as s:
        entries: list[tuple[str, dict[str, Any]]] = [
            ("hit_event", {"hit_id": "h-9", "event": "still_present", "ts": utc_ms(seen)}),
            (
                "webhook_delivered",  # as service.outbox.worker writes it
                {
                    "message_id": "nce-confirmed-0a1b",
                    "case_event": "confirmed",
                    "status_code": 200,
                    "attempts": 2,
                },
            ),
            ("case_escalated", {"to": "escalated", "why": f"still_present at {seen}"}),
            ("case_exported", {"from": "escalated", "to": "exported", "members": {"packages/x/a.jpg": "ab"}}),
            (
                "hit_ingested",
                {
                    "device_id": "edge-01",
                    "sequence": 9,
                    "package_id": "edge-01-00000009",
                    "kind": "violation",
                    "hit_id": "h-9",
                    "event": "opened",
                    "manifest_hash": "cd" * 32,
                    "files": {"a.jpg": "ef"},
                    "chain_gap": True,
                    "merged": True,
                },
            ),
        ]
        for action, payload in entries:
            ledger.append(s, actor="system:ingest", action=action, case_id=case_id, payload=payload)
        ledger.append(s, actor="system:future", action="case_reopened", case_id=case_id, payload=FUTURE)
        s.commit()
        keys = {k for e in s.query(LedgerEntry).all() for k in e.payload}
    return case_id, keys


def test_ledger_of_every_kind_is_worded_in_the_page_language(world: Client) -> None:
    w, client = world
    case_id, keys = ledger_of_every_kind(w, client)
    known = set(LEDGER_FIELDS) | LEDGER_HIDDEN
    assert keys - known == set(FUTURE) - known  # every field the service writes is known here
    raw_words = re.compile(r"\b(" + "|".join(sorted(keys)) + r")\b")
    case_html = client.get(f"/cases/{case_id}?lang=zh-CN").text
    dash_html = client.get("/dashboard").text
    for where, html in (
        ("case", section(case_html, 'id="ledger"')),
        ("dashboard", section(dash_html, 'id="activity"')),
    ):
        details, actions = cells(html, "detail"), cells(html, "action")
        assert details and actions, where
        for text in details + actions:
            assert not raw_words.search(text), (where, text)  # no recorded field name
            assert not re.search(r"\d{4}-\d\d-\d\dT|Z\b|\+00:00", text), (where, text)  # no UTC ISO time
            # ids stay as recorded; nothing else in Latin letters
            assert not re.search(r"[A-Za-z]{2,}", PACKAGE_ID.sub("", text)), (where, text)
    ledger_html = section(case_html, 'id="ledger"')
    for words in (
        "待审核 → 已确认",
        "违法类型：出店经营/跨门营业 → 占道设摊",
        "整改期限：2099-01-01 10:00",  # as the operator typed it, in the console's time zone
        "备注：请于期限内整改",
        "已确认 → 已告知",
        "已告知 → 已整改",
        "— → 已升级",
        "事件：仍存在",
        "推送事件：案件已确认",
        "已推送至办案系统",
        "事件时间：2099-01-03 09:02:03",
        "起因：2099-01-03 09:02:03 仍存在",
        "证据包：edge-01-00000009",
        "序号：9",
        "证据链序号缺口",
        "已升级 → 已移送",
        "其他操作",
        "其他：T-0042；复核；2 项；是",
    ):
        assert words in ledger_html, words
    assert 'title="case_reopened"' in ledger_html and "reopen_ticket=" in ledger_html  # the detail, on hover
    assert 'title="2099-01-01T02:00:00.000Z"' in ledger_html  # the recorded time, on hover
    assert "理由：外摆位许可时段；周末" in section(dash_html, 'id="activity"')

    en = section(client.get(f"/cases/{case_id}?lang=en").text, 'id="ledger"')
    for words in (
        "Violation: Out-of-shop trading → Street vending",
        "Deadline: 2099-01-01 10:00",
        "Cause: still present at 2099-01-03 09:02:03",
        "Package: edge-01-00000009",
        "Other action",
        "Other: T-0042; 复核; 2 item(s); yes",
    ):
        assert words in en, words
    en_dash = section(client.get("/dashboard?lang=en").text, 'id="activity"')
    assert "Reason: Permitted outdoor-trading hours; 周末" in en_dash  # recorded in Chinese, named in English
    assert 'title="外摆位许可时段；周末"' in en_dash


def test_real_entries_never_fall_back_to_other(world: Client) -> None:
    """What the service writes today is all named; only an entry of the future is 'other'."""
    w, client = world
    ledger_of_every_kind(w, client)
    page = Page("zh-CN", console_tz(), "", None, "/", {})
    with w.session() as s:
        entries = [LedgerEntryPublic.model_validate(e) for e in s.query(LedgerEntry).all()]
    for e in entries:
        texts = [part.text for part in ledger_detail(e, page)]
        is_future = e.action == "case_reopened"
        assert any(t.startswith("其他：") for t in texts) == is_future, (e.action, texts)


def test_catalogue_covers_every_ledger_word() -> None:
    """Every word a ledger entry can be shown with has a zh-CN and an English entry."""
    code = "\n".join(f.read_text(encoding="utf-8") for f in (SERVICE / "crud").glob("*.py"))
    actions = set(re.findall(r"""\baction\s*=\s*["']([a-z_]+)["']""", code))
    # f"case_{to}": the moves the service makes by itself (a sighting or the deadline settles a notice)
    actions |= {f"case_{to}" for to in workflow.TRANSITIONS["notice_issued"]}
    actions |= set(ACTIVITY_ACTIONS)
    assert {"hit_ingested", "hit_event", "case_reviewed", "notice_issued", "case_exported"} <= actions
    events = set(get_args(EventInfo.model_fields["event"].annotation)) | {"public_copy"}
    reasons = {k.removeprefix("reason.") for k in CATALOGUE if k.startswith("reason.")}
    needed = (
        {f"ledger.field.{k}" for k in [*LEDGER_FIELDS, "other"]}
        | {f"action.{a}" for a in actions}
        | {f"status.{s}" for s in CASE_STATUSES}
        | {f"violation.{v}" for v in VIOLATIONS}
        | {f"event.{e}" for e in events}
        | {f"reason.{r}" for r in reasons}
        | set(INVALID_FIELDS.values())
        | {f"err.service.{status}" for status in (400, 401, 403, 409, 413, 415, 422, 503)}
        | {"ledger.field_value", "ledger.list_sep", "ledger.why_value", "ledger.action_other", "err.detail"}
        | {"ledger.yes", "ledger.no", "ledger.items", "err.service.other"}
    )
    missing = sorted(needed - set(CATALOGUE))
    assert not missing, missing
    for key in needed:
        zh, en = CATALOGUE[key]
        assert zh.strip() and en.strip(), key
    # the labels of the fields are all Chinese on the Chinese page
    for key in LEDGER_FIELDS:
        assert not re.search(r"[A-Za-z]", translate("zh-CN", f"ledger.field.{key}")), key


# --- the service's refusals -----------------------------------------------------------------------

CASES: list[tuple[ServiceError, str | None, str]] = [
    (NotFound("case 7 not found"), None, "err.not_found"),
    (Conflict("case 7 is confirmed; it cannot become dismissed"), "confirmed", "err.state"),
    (Conflict("shop S-1 exists"), None, "err.service.409"),
    (Invalid("violation: may only be corrected when confirming"), "draft", "err.violation_on_dismiss"),
    (Invalid("deadline: must be in the future (now is 2026-01-01T00:00:00.000Z)"), None, "err.deadline_past"),
    (Invalid("cursor: not a cursor this service issued"), None, "err.bad_cursor"),
    (Invalid("manifest: hash mismatch"), None, "err.service.422"),
    (BadRequest("missing header Idempotency-Key"), None, "err.service.400"),
    (Unauthorized("bad token"), None, "err.service.401"),
    (Forbidden("role operator may not export"), None, "err.service.403"),
    (TooLarge("upload over 64 MiB"), None, "err.service.413"),
    (UnsupportedMedia("text/plain"), None, "err.service.415"),
    (Unavailable("database: connection refused"), None, "err.service.503"),
]


class Teapot(ServiceError):
    status_code = 418


@pytest.mark.parametrize(
    ("exc", "case_status", "key"), CASES, ids=[c[2] + "-" + type(c[0]).__name__ for c in CASES]
)
@pytest.mark.parametrize("lang", LANGS)
def test_service_refusals_are_worded_from_the_catalogue(
    exc: ServiceError, case_status: str | None, key: str, lang: Lang, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.console.refusal"):
        r = explain(exc, lang, case_id=7, case_status=case_status)
    values: dict[str, object] = {"id": 7}
    if key == "err.state":
        values = {"status": translate(lang, f"status.{case_status}")}
    expected = translate(lang, key, **values) if "{" in CATALOGUE[key][0] else translate(lang, key)
    assert r.message == expected
    assert "\n" not in r.message and str(exc) not in r.message  # one line, not the service's words
    if lang == "zh-CN":
        assert not re.search(r"[A-Za-z]{2,}", r.message), r.message
    assert r.status_code == exc.status_code
    assert r.detail == f"HTTP {exc.status_code} {type(exc).__name__}: {exc}"
    assert str(exc) in caplog.text  # the technical detail goes to the log


def test_an_unforeseen_refusal_names_its_status() -> None:
    r = explain(Teapot("short and stout"), "zh-CN", case_id=1)
    assert r.message == "操作未执行：服务拒绝了此操作（HTTP 418）。" and "short and stout" in r.detail
    assert explain(Teapot("x"), "en").message == "Not done: the service refused this (HTTP 418)."


def test_a_refusal_on_the_page_is_one_line_with_the_detail_folded(world: Client) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["newest"]
    r = post_form(
        client,
        f"/cases/{case_id}/review",
        {"decision": "dismiss", "reason": "误检", "violation": "piled_goods"},
        page=f"/cases/{case_id}",
    )
    assert r.status_code == 422
    shown = re.search(r'<p class="error" role="alert" id="form-error">(.*?)</p>', r.text)
    assert shown and shown.group(1) == translate("zh-CN", "err.violation_on_dismiss")
    folded = re.search(r'<details class="error-detail" id="error-detail">(.*?)</details>', r.text, flags=re.S)
    assert folded and "技术详情" in folded.group(1) and "may only be corrected" in folded.group(1)
    assert r.text.count("may only be corrected") == 1  # nowhere else


def test_an_unavailable_service_is_explained(world: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    w, client = world
    sign_in(client)
    client.get("/?lang=en")

    def down(*_a: object, **_k: object) -> None:
        raise Unavailable("database: connection refused")

    monkeypatch.setattr(case_actions, "review_case", down)
    case_id = w.cases["newest"]
    r = post_form(client, f"/cases/{case_id}/review", {"decision": "confirm"}, page=f"/cases/{case_id}")
    assert r.status_code == 503
    assert translate("en", "err.service.503") in r.text
    assert "connection refused" in r.text.split('id="error-detail"', 1)[1]
