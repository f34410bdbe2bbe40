"""Wrong passwords lock the username and the client address for a while (429 with Retry-After),
the right password too while locked, on the API and the console form alike; lockouts are logged,
counted in /metrics, grow with each repeat and end. Counters live in the database (SQLite and
PostgreSQL both run these)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from .conftest import PASSWORD, POLICY, Browser, Running, running

ACCOUNT_LIMIT = POLICY["login_account_failures"]
ADDRESS_LIMIT = POLICY["login_address_failures"]


def _retry_after(r: object) -> int:
    value = r.headers["retry-after"]  # type: ignore[attr-defined]
    assert value.isdigit(), value
    return int(value)


def test_an_account_is_locked_after_n_wrong_passwords_even_for_the_right_one(
    svc: Running, caplog: pytest.LogCaptureFixture
) -> None:
    user = svc.add_user()
    before = svc.metric("nce_login_lockouts_total", scope="account")
    caplog.set_level(logging.WARNING, logger="service.signin")
    statuses = [svc.login(user, f"wrong {i}").status_code for i in range(ACCOUNT_LIMIT - 1)]
    assert statuses == [401] * (ACCOUNT_LIMIT - 1)
    locking = svc.login(user, "wrong again")
    assert locking.status_code == 429
    assert 1 <= _retry_after(locking) <= POLICY["login_lockout_s"]
    assert "this username" in locking.json()["detail"]
    # the right password while locked: refused, no session
    right = svc.login(user, PASSWORD)
    assert right.status_code == 429 and "nce_session" not in right.headers.get("set-cookie", "")
    assert 1 <= _retry_after(right) <= POLICY["login_lockout_s"]
    # ... from any address: the account is locked, not the caller
    assert svc.login(user, PASSWORD, address="198.51.100.20").status_code == 429
    assert svc.metric("nce_login_lockouts_total", scope="account") == before + 1
    assert any(f"'account:{user}' locked" in r.getMessage() for r in caplog.records)
    # the lockout ends
    time.sleep(_retry_after(right) + 0.3)
    assert svc.login(user, PASSWORD).status_code == 200


def test_a_repeated_lockout_lasts_longer(svc: Running) -> None:
    user = svc.add_user()
    waits = []
    for _round in range(2):
        for i in range(ACCOUNT_LIMIT):
            r = svc.login(user, f"wrong {i}")
        assert r.status_code == 429
        waits.append(_retry_after(r))
        time.sleep(waits[-1] + 0.3)
    assert waits[0] <= POLICY["login_lockout_s"] < waits[1] <= 2 * POLICY["login_lockout_s"]


def test_a_right_password_forgets_the_accounts_failures(svc: Running) -> None:
    user = svc.add_user()
    for i in range(ACCOUNT_LIMIT - 1):
        assert svc.login(user, f"wrong {i}").status_code == 401
    assert svc.login(user, PASSWORD).status_code == 200
    for i in range(ACCOUNT_LIMIT - 1):
        assert svc.login(user, f"wrong {i}").status_code == 401


def test_an_address_is_locked_after_n_wrong_passwords_for_any_usernames(svc: Running) -> None:
    """Behind the proxy (X-Forwarded-For from a trusted 127.0.0.1): the address is the client's."""
    victim = svc.add_user()
    attacker = "203.0.113.7"
    before = svc.metric("nce_login_lockouts_total", scope="address")
    statuses = [svc.login(f"guess-{i}", "x" * 8, address=attacker).status_code for i in range(ADDRESS_LIMIT)]
    assert statuses == [401] * (ADDRESS_LIMIT - 1) + [429]
    refused = svc.login(victim, PASSWORD, address=attacker)
    assert refused.status_code == 429 and "this address" in refused.json()["detail"]
    assert _retry_after(refused) >= 1
    # another address signs in, with the same account
    assert svc.login(victim, PASSWORD, address="203.0.113.8").status_code == 200
    assert svc.metric("nce_login_lockouts_total", scope="address") == before + 1


def test_an_ipv6_client_is_counted_by_its_64(svc: Running) -> None:
    prefix = "2001:db8:1:2::"
    statuses = [
        svc.login(f"guess-{i}", "x" * 8, address=f"{prefix}{i + 1:x}").status_code
        for i in range(ADDRESS_LIMIT)
    ]
    assert statuses[-1] == 429
    assert svc.login("someone", "x" * 8, address="2001:db8:1:3::1").status_code == 401


def test_the_console_form_shares_the_lockout(svc: Running) -> None:
    user = svc.add_user()
    for i in range(ACCOUNT_LIMIT):
        svc.login(user, f"wrong {i}")
    b = Browser(svc.url)
    try:
        r = b.sign_in(user, PASSWORD)
        assert r.status_code == 429
        assert "登录已暂时锁定" in r.text
        assert _retry_after(r) >= 1
        assert "nce_session" not in b.cookies
    finally:
        b.close()


def test_wrong_passwords_on_the_console_form_lock_the_api_too(svc: Running) -> None:
    user = svc.add_user()
    b = Browser(svc.url, headers={"Accept-Language": "en"})
    try:
        statuses = [b.sign_in(user, f"wrong {i}").status_code for i in range(ACCOUNT_LIMIT)]
        assert statuses == [401] * (ACCOUNT_LIMIT - 1) + [429]
    finally:
        b.close()
    assert svc.login(user, PASSWORD).status_code == 429


def test_an_unknown_username_is_locked_like_a_known_one(svc: Running) -> None:
    """No hint which usernames exist: the same answers, the same lockout."""
    statuses = [svc.login("nobody-here", f"wrong {i}").status_code for i in range(ACCOUNT_LIMIT + 1)]
    assert statuses == [401] * (ACCOUNT_LIMIT - 1) + [429, 429]


@pytest.mark.parametrize(
    "body",
    [{"password": "x"}, {"username": "USER", "password": ""}, {"username": "USER", "password": 5}],
    ids=["no-username", "empty-password", "number-password"],
)
def test_bodies_the_schema_refuses_count_nothing(svc: Running, body: dict[str, object]) -> None:
    user = svc.add_user()
    body = {k: (user if v == "USER" else v) for k, v in body.items()}
    for _ in range(ACCOUNT_LIMIT + 1):
        assert httpx.post(f"{svc.url}/api/v1/auth/login", json=body).status_code == 422
    assert svc.login(user, PASSWORD).status_code == 200


def test_sign_in_with_the_database_down_is_503(tmp_path: Path) -> None:
    with running(
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2", tmp_path / "ev"
    ) as down:
        r = down.login("someone", "a password")
    assert r.status_code == 503 and "database unavailable" in r.json()["detail"]
    assert r.headers["retry-after"] == "5"
