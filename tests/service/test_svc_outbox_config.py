"""The outbox's configuration and schema: a bad integrations file stops the start with one line that
names the file and the problem (table-driven); the shipped example and tables load; migration 0011
upgrades and downgrades on SQLite and PostgreSQL; ``nce admin webhooks`` shows and retries."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from nce.cli import main as nce_main
from nce.vocabulary import VIOLATIONS
from service.app import create_app
from service.db import make_engine
from service.migrate import alembic_config, upgrade
from service.models_outbox import OutboundMessage
from service.outbox.config import CASE_EVENTS, IntegrationsError, code_table, load_integrations, sms_template
from tests.support.cli import nce
from tests.support.postgres import migrated_database
from tests.support.servers import free_port, service_key_file
from tests.support.service_api import Api, make_settings

ENV = {"T_SECRET": "s" * 20, "T_SHORT": "short"}
OK_HOOK = "webhooks: [{name: ecase, url: 'https://ecase.example', secret_env: T_SECRET}]"
EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "integrations.example.yaml"

BAD: list[tuple[str, str]] = [
    ("notifier: [", "not YAML"),
    ("colour: blue", "colour: Extra inputs are not permitted"),
    ("webhooks: [{name: ecase, url: 'https://e.example', secret: 'literal-secret-0123456789'}]", "demo only"),
    ("webhooks: [{name: ecase, url: 'https://e.example', secret_env: T_MISSING}]", "T_MISSING is not set"),
    ("webhooks: [{name: ecase, url: 'https://e.example', secret_env: T_SHORT}]", "at least 16"),
    ("webhooks: [{name: ecase, url: 'https://e.example'}]", "needs a secret_env"),
    ("webhooks: [{name: ecase, url: 'http://ecase.example', secret_env: T_SECRET}]", "loopback only"),
    ("webhooks: [{name: ecase, url: 'ftp://e.example', secret_env: T_SECRET}]", "expected an http(s) URL"),
    (
        "webhooks: [{name: ecase, url: 'https://e.example', secret_env: T_SECRET, events: [reopened]}]",
        "webhooks.0.events.0",
    ),
    ("webhooks: [{name: sms, url: 'https://e.example', secret_env: T_SECRET}]", "sms more than once"),
    ("notifier: {kind: http}", "kind http needs a url"),
    ("notifier: {kind: carrier-pigeon}", "notifier.kind"),
    ("notifier: {kind: http, url: 'https://g.example', body: {to: '{phone_no}'}}", "unknown placeholder"),
    ("notifier: {kind: http, url: 'https://g.example', auth: 'Bearer literal-0123456789'}", "demo only"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e for _, e in BAD])
def test_a_bad_integrations_file_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IntegrationsError) as info:
        load_integrations(path, demo=False, env=ENV)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message, message


def test_the_service_does_not_start_with_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text("webhooks: [{name: ecase, url: 'https://e.example', secret_env: T_NOPE_NOT_SET}]")
    settings = make_settings(f"sqlite:///{tmp_path}/x.sqlite3", tmp_path / "ev")
    with pytest.raises(IntegrationsError, match="T_NOPE_NOT_SET is not set"):
        create_app(settings.model_copy(update={"integrations_file": path}))
    # the command a user runs: one line on stderr, no traceback
    r = nce(
        "serve", "--port", str(free_port()), "--db", f"sqlite:///{tmp_path}/y.sqlite3",
        env={"NCE_INTEGRATIONS_FILE": str(path), "NCE_SECRET_KEY": "x" * 24,
             "NCE_SERVICE_KEY_FILE": str(service_key_file(tmp_path))},
        timeout=60,
    )  # fmt: skip
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "T_NOPE_NOT_SET is not set" in lines[0], r.stderr


def test_the_shipped_files_load() -> None:
    env = {"NCE_SMS_GATEWAY_AUTH": "Bearer " + "t" * 20, "NCE_SMS_RECEIPT_SECRET": "r" * 20,
           "NCE_WEBHOOK_ECASE_SECRET": "w" * 20}  # fmt: skip
    got = load_integrations(EXAMPLE, demo=False, env=env)
    assert got.notifier.kind == "http" and got.webhooks[0].events == frozenset(CASE_EVENTS)
    assert "w" * 20 not in repr(got) and "t" * 20 not in repr(got)  # secrets are never printed
    assert set(code_table().codes) == set(VIOLATIONS)  # every violation has a (unverified) code
    assert all(not c.verified for c in code_table().codes.values())  # nobody checked them yet
    assert "{deadline}" in sms_template().text and "{link}" in sms_template().text
    assert load_integrations(None, demo=False).webhooks == ()  # no file: log only, no webhooks


def test_a_literal_secret_is_for_the_demo(tmp_path: Path) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text(
        "webhooks: [{name: ecase, url: 'http://ecase.example', secret: 'demo-secret-0123456789'}]"
    )
    assert load_integrations(path, demo=True, env={}).webhooks[0].secret == b"demo-secret-0123456789"


def _alembic(url: str, action: str, revision: str) -> None:
    engine = make_engine(url)
    cfg = alembic_config(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
    finally:
        engine.dispose()


def test_migration_0011_up_and_down(db_url: str, tmp_path: Path) -> None:
    """On a fresh database at head (the session's is shared): down to 0010, the table goes; up, it is back."""
    fresh: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path}/m.sqlite3")
        if db_url.startswith("sqlite")
        else migrated_database("nce_outbox_mig")
    )
    with fresh as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            assert OutboundMessage.__tablename__ in inspect(engine).get_table_names()
            _alembic(url, "downgrade", "0010")
            assert OutboundMessage.__tablename__ not in inspect(engine).get_table_names()
            _alembic(url, "upgrade", "head")
            assert OutboundMessage.__tablename__ in inspect(engine).get_table_names()
        finally:
            engine.dispose()


def test_nce_admin_webhooks_status_and_retry(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    from service.models import utcnow

    with api.session() as s:
        for i, status in enumerate(["pending", "delivered", "poisoned", "poisoned"]):
            s.add(OutboundMessage(kind="webhook", target="ecase", event="confirmed", message_id=f"m{i}",
                                  body="{}", status=status, attempts=1, refusals=0, next_at=utcnow()))  # fmt: skip
        s.commit()
    assert nce_main(["admin", "webhooks", "status", "--db", api.url, "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row == {"target": "ecase", "kind": "webhook", "pending": 1, "delivered": 1, "poisoned": 2}
    assert nce_main(["admin", "webhooks", "status", "--db", api.url]) == 0
    assert "ecase" in capsys.readouterr().out
    assert nce_main(["admin", "webhooks", "retry-poisoned", "--db", api.url, "--target", "ecase"]) == 0
    assert "2 poisoned message(s) of ecase back to pending" in capsys.readouterr().out
    assert api.count("outbound_messages WHERE status = 'pending'") == 3
    assert api.count("ledger WHERE action = 'outbound_retried'") == 1


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 10, 12, 40, 1000])
def test_the_backoff_doubles_up_to_its_cap_with_jitter(attempt: int) -> None:
    import random

    from service.outbox.worker import Policy

    p = Policy(backoff_base_s=2.0, backoff_max_s=900.0)
    step = min(900.0, 2.0 * 2 ** min(attempt - 1, 30))
    waits = [p.backoff.delay(attempt, random.Random(seed)) for seed in range(50)]
    assert all(step / 2 <= w <= step for w in waits)
    assert len(set(waits)) > 1  # jittered: messages failed together come back apart


def test_the_notice_text_carries_the_shop_page_link_once_there_is_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The link line appears only when the shop has a page (the shop-page work fills in
    ``shop_page_url``; until then it is None and the line is left out)."""
    import datetime as dt

    from service.models import Case, Shop
    from service.outbox import notice
    from service.outbox.config import default_integrations

    case = Case(violation="street_vending", camera_id="cam-01")
    shop = Shop(shop_id="S-1", name="好运来水果店", address="友谊路12号")
    deadline = dt.datetime(2030, 1, 2, 2, 0, tzinfo=dt.UTC)
    where: dict[str, str | None] = {"id": "cam-01", "name": "友谊路 东口", "address": None}
    integ = default_integrations()
    plain = notice.sms_text(Session(), integ, case=case, shop=shop, where=where, deadline=deadline)
    assert plain.startswith("【城市管理】好运来水果店：") and "占道设摊" in plain and "友谊路 东口" in plain
    assert "2030年01月02日10:00" in plain  # Beijing time
    assert "查看证据" not in plain
    monkeypatch.setattr(notice, "shop_page_url", lambda _session, _shop, _base: "https://nce.example/s/tok")
    assert plain + "查看证据、提交整改反馈：https://nce.example/s/tok" == notice.sms_text(
        Session(), integ, case=case, shop=shop, where=where, deadline=deadline
    )


@pytest.mark.parametrize(
    ("contact", "mobile"),
    [("13800138000", "13800138000"), ("王女士 +86 13912345678", "13912345678"), ("021-55551234", None),
     ("138001380001", None), ("电话：15000000000；座机 021-1", "15000000000"), ("", None), (None, None)],
)  # fmt: skip
def test_the_mobile_number_of_a_contact(contact: str | None, mobile: str | None) -> None:
    from service.models import Shop
    from service.outbox.notice import mobile_of

    assert mobile_of(Shop(shop_id="S", name="n", contact=contact)) == mobile
