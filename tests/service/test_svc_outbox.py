"""The outbox end to end, over real HTTP on loopback (SQLite and PostgreSQL): a notice reaches a real
SMS gateway and a real case-system receiver; a gateway that is down gets everything exactly once
later; refusals poison; webhooks are signed; receipts must be signed; a shop without a mobile number
gets its notice in person; a bad integrations file stops the start with one line."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.models import Case, Shop
from service.models_outbox import OutboundMessage
from service.models_shop_page import ShopLink
from service.outbox import signing, worker
from service.outbox.events import emit_case_event
from service.outbox.send import classify
from service.shop_links import derive_token
from service.state import AppState
from tests.support.console import sign_in
from tests.support.receivers import Receiver
from tests.support.service_api import PASSWORD, Api, empty, make_settings
from tests.support.shop_page import state_statement

HOOK_SECRET = "webhook-secret-0123456789"
RECEIPT_SECRET = "receipt-secret-0123456789"
GATEWAY_AUTH = "Bearer gateway-token-0123456789"
PHONE = "13800138000"
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # the worker's clock in the retry tests (its "now")


def integrations_yaml(gateway: Receiver, hook: Receiver) -> str:
    return f"""
shop_page_base_url: http://127.0.0.1:1
notifier:
  kind: http
  url: {gateway.url}
  auth_env: T_GATEWAY_AUTH
  receipt_secret_env: T_RECEIPT_SECRET
  body: {{mobile: "{{phone}}", content: "{{text}}", out_id: "{{message_id}}"}}
webhooks:
  - name: ecase
    url: {hook.url}
    secret_env: T_HOOK_SECRET
"""


@pytest.fixture
def wired(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, Receiver, Receiver]]:
    yield from _wired(db_url, tmp_path, monkeypatch, interval_s=0)


@pytest.fixture
def wired_with_worker(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, Receiver, Receiver]]:
    yield from _wired(db_url, tmp_path, monkeypatch, interval_s=0.05)


def _wired(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, interval_s: float
) -> Iterator[tuple[Api, Receiver, Receiver]]:
    monkeypatch.setenv("T_GATEWAY_AUTH", GATEWAY_AUTH)
    monkeypatch.setenv("T_RECEIPT_SECRET", RECEIPT_SECRET)
    monkeypatch.setenv("T_HOOK_SECRET", HOOK_SECRET)
    gateway, hook = Receiver(), Receiver(secret=HOOK_SECRET.encode())
    path = tmp_path / "integrations.yaml"
    path.write_text(integrations_yaml(gateway, hook), encoding="utf-8")
    settings = make_settings(db_url, tmp_path / "evidence").model_copy(
        update={"integrations_file": path, "outbound_interval_s": interval_s}
    )
    app = create_app(settings)
    state: AppState = app.state.nce
    empty(state)
    with gateway, hook, TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield Api(client, state, db_url, tmp_path / "evidence"), gateway, hook


def policy(**kw: Any) -> worker.Policy:
    return worker.Policy(**{"max_attempts": 6, "max_refusals": 3, "timeout_s": 5.0, **kw})


def drain(api: Api, p: worker.Policy | None = None, now: dt.datetime | None = None) -> dict[str, int]:
    with httpx.Client() as client:
        return dict(
            worker.run_once(api.state.sessions, api.state.integrations, p or policy(), client, now=now)
        )


def drain_all(api: Api) -> None:
    with httpx.Client() as client:
        worker.drain(api.state.sessions, api.state.integrations, policy(), client)


def shop(api: Api, shop_id: str, contact: str | None) -> None:
    body = {"shop_id": shop_id, "name": "好运来水果店", "address": "友谊路12号"}
    if contact:
        body["contact"] = contact
    api.client.post("/api/v1/shops", json=body, headers=api.user("supervisor")).raise_for_status()


def noticed_case(api: Api, shop_id: str = "S-1", contact: str | None = f"王女士 {PHONE}") -> int:
    shop(api, shop_id, contact)
    op = api.user("operator")
    dev = api.device()
    case_id = int(dev.post(api.client, dev.package(shop_id=shop_id)).json()["case_id"])
    api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=op
    ).raise_for_status()
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    r = api.client.post(f"/api/v1/cases/{case_id}/notice", json={"deadline": deadline}, headers=op)
    assert r.status_code == 200, r.text
    return case_id


def rows(api: Api) -> list[OutboundMessage]:
    with api.session() as s:
        return list(s.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars())


def ledger(api: Api, case_id: int) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/v1/cases/{case_id}", headers=api.user("operator"))
    return list(r.json()["ledger"])


def receipt(api: Api, body: dict[str, Any], secret: str | None = RECEIPT_SECRET) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[signing.SIGNATURE_HEADER] = signing.sign(secret.encode(), raw)
    return api.client.post("/api/v1/notifications/receipts", content=raw, headers=headers)


def test_a_notice_reaches_the_gateway_and_the_case_system(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, gateway, hook = wired
    case_id = noticed_case(api)
    assert {(r.kind, r.event) for r in rows(api)} == {
        ("webhook", "confirmed"),
        ("sms", "notice_issued"),
        ("webhook", "notice_issued"),
    }
    drain_all(api)
    assert {r.status for r in rows(api)} == {"delivered"}
    # the gateway: one request, the configured body and auth, the Chinese notice
    [sms] = gateway.requests
    body = json.loads(sms.body)
    assert sms.headers["Authorization"] == GATEWAY_AUTH
    assert body["mobile"] == PHONE and body["out_id"] == sms.headers["Idempotency-Key"]
    for words in ("好运来水果店", "出店经营/跨门营业", "友谊路 东口", "前自行整改"):
        assert words in body["content"], (words, body["content"])
    # the link in the SMS is the shop's own page (一店一码), derived from the service's secret key
    [path] = re.findall(r"http://127\.0\.0\.1:1(/s/[A-Za-z0-9_-]+)", body["content"])
    page = api.client.get(path)
    assert page.status_code == 200 and "好运来水果店" in page.text
    # the case system: the two events, each signed and with its GB/T 30428 code (unverified)
    events = [json.loads(r.body) for r in hook.requests]
    assert [e["event"] for e in events] == ["confirmed", "notice_issued"]
    for r, e in zip(hook.requests, events, strict=True):
        assert signing.verify(HOOK_SECRET.encode(), r.body, r.headers[signing.SIGNATURE_HEADER])
        assert r.headers["Idempotency-Key"] == e["event_id"] and r.headers[signing.TIMESTAMP_HEADER].isdigit()
        assert e["case"]["id"] == case_id and e["shop"]["name"] == "好运来水果店"
        assert "contact" not in e["shop"]
        assert e["camera"] == {"id": "cam-01", "name": "友谊路 东口", "address": None}
        assert e["violation_class"] == "out_of_shop_trading"
        assert e["event_code"]["standard"] == "GB/T 30428.2-2013" and e["event_code"]["verified"] is False
    assert events[1]["detail"]["delivery"] == "sms"
    entries = ledger(api, case_id)
    issued = next(e for e in entries if e["action"] == "notice_issued")
    assert issued["payload"]["delivery"] == "sms" and issued["payload"]["phone"] == "138****8000"
    sent = [e for e in entries if e["action"] == "notice_sent"]
    assert len(sent) == 1 and sent[0]["payload"]["channel"] == "http"
    # the gateway's receipt: signed, recorded once, pushed to the case system
    message_id = body["out_id"]
    first = receipt(api, {"message_id": message_id, "status": "delivered", "detail": "DELIVRD"})
    again = receipt(api, {"message_id": message_id, "status": "delivered"})
    assert (first.status_code, first.json()["recorded"]) == (200, True)
    assert (again.status_code, again.json()["recorded"]) == (200, False)
    assert [e["action"] for e in ledger(api, case_id)].count("notice_delivered") == 1
    from service.ledger import verify
    from service.ledger_replay import replay

    with api.session() as s:
        assert verify(s).ok and replay(s).ok  # the new entries chain, and the tables agree with them
    drain_all(api)
    assert [json.loads(r.body)["event"] for r in hook.requests][-1] == "notice_delivered"
    assert not gateway.duplicates and not hook.duplicates


def test_a_gateway_down_for_a_while_gets_everything_once(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, gateway, hook = wired
    noticed_case(api, "S-1")
    noticed_case(api, "S-2", contact="13900139000")
    gateway.stop()  # refuses connections
    hook.script = [503, 500, 503, 502, 503]  # the first pass and one more answer
    now = T0
    assert drain(api, now=now) == {"pending": 6}  # 2 SMS: connection refused; 4 webhooks: 5xx
    gateway.start()
    gateway.script = [503]
    for _ in range(6):
        now += dt.timedelta(hours=1)  # past any backoff
        drain(api, now=now)
    assert {r.status for r in rows(api)} == {"delivered"}
    sent_before = len(gateway.requests) + len(hook.requests)
    assert drain(api, now=now + dt.timedelta(days=1)) == {}  # nothing delivered is sent again
    assert len(gateway.requests) + len(hook.requests) == sent_before
    for receiver in (gateway, hook):
        assert set(receiver.ok_answers.values()) == {1}, receiver.ok_answers  # each accepted once
        assert not receiver.duplicates
    assert len(gateway.accepted) == 2 and len(hook.accepted) == 4
    # each row's attempts are the requests its receiver saw (plus the refused connections)
    for r in rows(api):
        receiver = gateway if r.kind == "sms" else hook
        seen = sum(1 for q in receiver.requests if q.headers["Idempotency-Key"] == r.message_id)
        assert seen == r.attempts - (1 if r.kind == "sms" else 0)


def test_two_workers_at_once_send_each_message_once(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, _gateway, hook = wired
    case_id = noticed_case(api)
    with api.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        for _ in range(30):
            emit_case_event(s, case, "shop_responded", detail={"note": "已整改"})
        s.commit()
    threads = [threading.Thread(target=drain_all, args=(api,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status for r in rows(api)} == {"delivered"}
    assert set(hook.ok_answers.values()) == {1} and len(hook.accepted) == 32


@pytest.mark.parametrize(
    ("status", "result"),
    [(200, "delivered"), (202, "delivered"), (204, "delivered"), (301, "refused"), (400, "refused"),
     (401, "refused"), (403, "refused"), (404, "refused"), (408, "retry"), (409, "refused"),
     (422, "refused"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry")],
)  # fmt: skip
def test_what_an_answer_means(status: int, result: str) -> None:
    assert classify(status) == result


def test_refusals_poison_and_an_admin_sends_them_again(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, gateway, _hook = wired
    case_id = noticed_case(api)
    gateway.script = [400, 429, 400, 400]  # 429 is retried, not a refusal
    now = T0
    for _ in range(5):
        drain(api, now=now)
        now += dt.timedelta(hours=1)
    [sms] = [r for r in rows(api) if r.kind == "sms"]
    assert (sms.status, sms.refusals, sms.attempts, sms.last_status) == ("poisoned", 3, 4, 400)
    failed = [e for e in ledger(api, case_id) if e["action"] == "notice_send_failed"]
    assert len(failed) == 1 and failed[0]["payload"]["status_code"] == 400
    from service.outbox.admin import counts, retry_poisoned

    with api.session() as s:
        assert {(c.target, c.poisoned) for c in counts(s)} == {("sms", 1), ("ecase", 0)}
        assert retry_poisoned(s, target="sms", actor="test") == 1
    drain_all(api)
    assert {r.status for r in rows(api)} == {"delivered"} and len(gateway.accepted) == 1


def test_webhooks_are_signed_and_a_tampered_body_is_refused(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, _gateway, hook = wired
    noticed_case(api)
    drain_all(api)
    good = hook.requests[0]
    tampered = good.body.replace(b'"confirmed"', b'"exported"', 1)
    assert tampered != good.body
    with httpx.Client() as client:
        headers = {k: v for k, v in good.headers.items() if k.lower() not in ("content-length", "host")}
        assert client.post(hook.url, content=tampered, headers=headers).status_code == 401
        headers[signing.SIGNATURE_HEADER] = "sha256=" + "0" * 64
        assert client.post(hook.url, content=good.body, headers=headers).status_code == 401
    # a target whose secret the receiver does not share: every send is refused, then poisoned
    hook.secret = b"another-secret-0123456789"
    with api.session() as s:
        case = s.execute(select(Case)).scalars().first()
        assert case is not None
        emit_case_event(s, case, "shop_responded")
        s.commit()
    now = T0
    for _ in range(3):
        drain(api, now=now)
        now += dt.timedelta(hours=1)
    assert [r.status for r in rows(api) if r.event == "shop_responded"] == ["poisoned"]


RECEIPT_REFUSALS: list[tuple[dict[str, Any], str | None, int]] = [
    ({"message_id": "m", "status": "delivered"}, None, 401),  # unsigned
    ({"message_id": "m", "status": "delivered"}, "wrong-secret-0123456789", 401),
    ({"message_id": "nce-nope", "status": "delivered"}, RECEIPT_SECRET, 404),
    ({"message_id": "m", "status": "lost"}, RECEIPT_SECRET, 422),
    ({"status": "delivered"}, RECEIPT_SECRET, 422),
]


def test_a_receipt_must_be_signed_and_known(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, _gateway, _hook = wired
    case_id = noticed_case(api)
    drain_all(api)
    [sms] = [r for r in rows(api) if r.kind == "sms"]
    before = ledger(api, case_id)
    for body, secret, status in RECEIPT_REFUSALS:
        if body.get("message_id") == "m":
            body = {**body, "message_id": sms.message_id}
        r = receipt(api, body, secret)
        assert r.status_code == status, (body, secret, r.text)
    # a signature over other bytes than those sent: refused too
    raw = json.dumps({"message_id": sms.message_id, "status": "delivered"}).encode()
    forged = signing.sign(RECEIPT_SECRET.encode(), raw + b" ")
    r = api.client.post(
        "/api/v1/notifications/receipts", content=raw, headers={signing.SIGNATURE_HEADER: forged}
    )
    assert r.status_code == 401
    assert ledger(api, case_id) == before  # nothing recorded
    assert [x.receipt for x in rows(api) if x.kind == "sms"] == [None]


def test_receipts_are_refused_when_not_configured(api: Api) -> None:
    r = receipt(api, {"message_id": "m", "status": "delivered"})
    assert r.status_code == 403 and "not configured" in r.json()["detail"]


def test_a_shop_without_a_mobile_gets_its_notice_in_person(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, gateway, hook = wired
    case_id = noticed_case(api, contact="前台座机 021-5555 1234")
    assert [r.kind for r in rows(api)] == ["webhook", "webhook"]  # no SMS
    drain_all(api)
    assert not gateway.requests
    issued = next(e for e in ledger(api, case_id) if e["action"] == "notice_issued")
    assert issued["payload"]["delivery"] == "in_person"
    case = api.client.get(f"/api/v1/cases/{case_id}", headers=api.user("operator")).json()["case"]
    assert "notice_in_person" in case["flags"]
    from service.ledger_replay import replay

    with api.session() as s:
        assert replay(s).ok  # the flag is on the ledger's record of the case
    assert json.loads(hook.requests[-1].body)["detail"]["delivery"] == "in_person"
    # the case page says so, in the flags and on the notice's ledger entry
    api.user("operator", username="op-in-person")
    sign_in(api.client, "op-in-person", PASSWORD)
    page = api.client.get(f"/cases/{case_id}?lang=zh-CN").text
    assert "无手机号：告知书需现场送达" in page and "送达方式：现场送达" in page


def test_the_log_notifier_is_the_default(api: Api) -> None:
    case_id = noticed_case(api)
    assert [r.kind for r in rows(api)] == ["sms"]  # no webhook targets without a file
    drain_all(api)
    sent = [e for e in ledger(api, case_id) if e["action"] == "notice_sent"]
    assert [e["payload"]["channel"] for e in sent] == ["log"]


def test_emit_case_event_refuses_an_unknown_event(api: Api) -> None:
    with api.session() as s, pytest.raises(ValueError, match="shop_responded"):
        emit_case_event(s, Case(id=1), "reopened")  # type: ignore[arg-type]


def test_the_case_system_hears_of_each_move(wired: tuple[Api, Receiver, Receiver]) -> None:
    """confirmed and exported (the export), notice_issued and corrected (the deadline sweeper)."""
    from service.crud.case_actions import sweep_deadlines
    from tests.support.devices import files_for

    api, _gateway, hook = wired
    dev, sup = api.device(), api.user("supervisor")
    exported = int(dev.post(api.client, dev.package(shop_id=None)).json()["case_id"])
    api.client.post(f"/api/v1/cases/{exported}/review", json={"decision": "confirm"}, headers=sup)
    assert api.client.get(f"/api/v1/cases/{exported}/export", headers=sup).status_code == 200
    pkg = dev.package(shop_id=None, camera_id="cam-02")
    corrected = int(dev.post(api.client, pkg).json()["case_id"])
    api.client.post(f"/api/v1/cases/{corrected}/review", json={"decision": "confirm"}, headers=sup)
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    api.client.post(
        f"/api/v1/cases/{corrected}/notice", json={"deadline": deadline.isoformat()}, headers=sup
    ).raise_for_status()
    cleared = dev.package(
        hit_id=pkg.manifest.event.hit_id, kind="cleared", event="cleared", ts=dt.datetime.now(dt.UTC),
        files={"still-1-first_seen.jpg": files_for("empty")["still-1-first_seen.jpg"]}, stills=[],
        shop_id=None, camera_id="cam-02",
    )  # fmt: skip
    dev.post(api.client, cleared).raise_for_status()
    with api.session() as s:
        assert sweep_deadlines(s, now=deadline + dt.timedelta(seconds=1)) == [(corrected, "corrected")]
    drain_all(api)
    seen = [
        (e["case"]["id"], e["event"], e["case"]["status"]) for e in map(json.loads, hook.accepted.values())
    ]
    assert seen == [
        (exported, "confirmed", "confirmed"),
        (exported, "exported", "exported"),
        (corrected, "confirmed", "confirmed"),
        (corrected, "notice_issued", "notice_issued"),
        (corrected, "corrected", "corrected"),
    ]
    assert all(json.loads(b)["shop"] is None for b in hook.accepted.values())


def test_the_log_notifier_masks_the_phone(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    noticed_case(api)
    with caplog.at_level("INFO", logger="service.outbox.send"):
        drain_all(api)
    assert "138****8000" in caplog.text and PHONE not in caplog.text and "好运来水果店" in caplog.text


def test_the_service_sends_by_itself(wired_with_worker: tuple[Api, Receiver, Receiver]) -> None:
    """The worker thread of the running app (its lifespan) sends without being asked."""
    api, gateway, hook = wired_with_worker
    case_id = noticed_case(api)
    deadline = time.monotonic() + 30
    while {r.status for r in rows(api)} != {"delivered"}:
        assert time.monotonic() < deadline, [(r.kind, r.status, r.last_error) for r in rows(api)]
        time.sleep(0.05)
    assert len(gateway.accepted) == 1 and len(hook.accepted) == 2
    assert [e["action"] for e in ledger(api, case_id)].count("notice_sent") == 1


def test_a_message_to_a_target_no_longer_configured_is_poisoned(api: Api) -> None:
    from service.models import utcnow

    with api.session() as s:
        s.add(OutboundMessage(kind="webhook", target="gone", event="confirmed", message_id="nce-x",
                              body="{}", status="pending", attempts=0, refusals=0, next_at=utcnow()))  # fmt: skip
        s.commit()
    drain_all(api)
    [row] = rows(api)
    assert row.status == "poisoned" and "webhook target 'gone' is no longer configured" in (
        row.last_error or ""
    )


def test_a_shops_statement_on_its_page_reaches_the_case_system(wired: tuple[Api, Receiver, Receiver]) -> None:
    api, _gateway, hook = wired
    case_id = noticed_case(api)
    drain_all(api)
    with api.session() as s:
        shop_row = s.get(Shop, "S-1")
        token = derive_token(api.state.settings.secret_key, "S-1", s.get(ShopLink, "S-1").generation)  # type: ignore[union-attr]
    r = state_statement(api.client, token, case_id, "已于当日整改，摊位已收回店内。")
    assert r.status_code in (302, 303), r.text
    assert shop_row is not None
    drain_all(api)
    events = [json.loads(r.body) for r in hook.requests]
    responded = [e for e in events if e["event"] == "shop_responded"]
    assert len(responded) == 1 and responded[0]["case"]["id"] == case_id
    assert responded[0]["detail"]["kind"] == "statement"
    assert any(e["action"] == "shop_responded" for e in ledger(api, case_id))
