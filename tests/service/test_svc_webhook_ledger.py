"""A webhook to the case system about a case ends as a ledger entry on that case, as a notice's SMS
does: ``webhook_delivered`` once the case system took it, ``webhook_failed`` once it is given up
(refused or out of attempts), worded in the console's timeline; retries stay in the outbox only
(SQLite and PostgreSQL, a real receiver on loopback)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from service.ledger_replay import replay
from tests.service.test_svc_outbox import T0, drain, ledger, noticed_case, rows, wired
from tests.support.console import sign_in
from tests.support.receivers import Receiver
from tests.support.service_api import PASSWORD, Api

__all__ = ["wired"]


def hook_entries(api: Api, case_id: int) -> list[dict[str, Any]]:
    return [e for e in ledger(api, case_id) if e["action"].startswith("webhook_")]


def test_a_delivered_webhook_is_a_ledger_entry_on_its_case(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, _gateway, hook = wired
    hook.script = [503]  # the first try fails: a retry writes nothing on the case
    case_id = noticed_case(api)  # confirmed, then noticed: two webhooks to "ecase"
    drain(api, now=T0)
    assert [e["payload"]["case_event"] for e in hook_entries(api, case_id)] == ["notice_issued"]
    drain(api, now=T0 + dt.timedelta(hours=1))  # the retry is due
    entries = hook_entries(api, case_id)
    assert [(e["action"], e["actor"], e["payload"]["case_event"]) for e in entries] == [
        ("webhook_delivered", "system:webhook:ecase", "notice_issued"),
        ("webhook_delivered", "system:webhook:ecase", "confirmed"),
    ]
    confirmed = entries[1]["payload"]
    [row] = [r for r in rows(api) if r.kind == "webhook" and r.event == "confirmed"]
    expected = {"message_id": row.message_id, "case_event": "confirmed", "status_code": 200, "attempts": 2}
    assert {k: confirmed[k] for k in expected} == expected and "error" not in confirmed
    with api.session() as s:
        assert replay(s).ok
    api.user("operator", username="op-hooks")
    sign_in(api.client, "op-hooks", PASSWORD)
    page = api.client.get(f"/cases/{case_id}?lang=zh-CN").text
    assert "已推送至办案系统" in page and "推送事件：案件已确认" in page and "推送事件：已告知" in page
    en = api.client.get(f"/cases/{case_id}?lang=en").text
    assert "pushed to the case system" in en and "Event pushed: case confirmed" in en


def test_a_webhook_given_up_is_a_ledger_entry_with_why(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, _gateway, hook = wired
    hook.script = [400, 400, 400, 400, 400, 400]  # the case system refuses both: poisoned after 3 each
    case_id = noticed_case(api)
    now = T0
    for _ in range(4):
        drain(api, now=now)
        now += dt.timedelta(hours=1)
    assert {r.status for r in rows(api) if r.kind == "webhook"} == {"poisoned"}
    entries = hook_entries(api, case_id)
    assert sorted((e["action"], e["payload"]["case_event"]) for e in entries) == [
        ("webhook_failed", "confirmed"),
        ("webhook_failed", "notice_issued"),
    ]
    failed = entries[0]["payload"]
    assert failed["status_code"] == 400 and failed["attempts"] == 3 and failed["error"]
    api.user("operator", username="op-hooks2")
    sign_in(api.client, "op-hooks2", PASSWORD)
    page = api.client.get(f"/cases/{case_id}?lang=zh-CN").text
    assert "推送办案系统失败" in page and "网关应答码：400" in page and "尝试次数：3" in page
