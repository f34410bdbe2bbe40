"""Account hygiene (SQLite and PostgreSQL, the real app, the real ``nce admin``): disabling a person ends
their sessions at once, an admin's password reset must be changed before anything else, a person
changes their own password (never with a wrong current one), a case system's token is revoked; each is
a ledger entry; one password policy."""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any

import pytest
from sqlalchemy import select, text

from nce.cli import main as nce_main
from service.crud.identities import add_user
from service.errors import Invalid
from service.models import LedgerEntry
from service.passwords import MIN_LENGTH, check_new_password
from tests.support.service_api import Api

OLD = "an old passphrase 1"
NEW = "a brand new passphrase 2"


def person(api: Api, username: str = "alice", role: str = "operator", password: str = OLD) -> None:
    with api.session() as s:
        add_user(s, username=username, role=role, password=password, actor="test")


def login(api: Api, username: str, password: str) -> Any:
    api.client.cookies.clear()
    return api.client.post("/api/v1/auth/login", json={"username": username, "password": password})


def bearer(api: Api, username: str = "alice", password: str = OLD) -> dict[str, str]:
    r = login(api, username, password)
    assert r.status_code == 200, r.text
    api.client.cookies.clear()  # the bearer token alone from here on
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def me(api: Api, headers: dict[str, str]) -> int:
    return int(api.client.get("/api/v1/auth/me", headers=headers).status_code)


def entries(api: Api, action: str) -> list[tuple[str, dict[str, Any]]]:
    with api.session() as s:
        rows = s.execute(
            select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.seq)
        ).scalars()
        return [(e.actor, dict(e.payload)) for e in rows]


def sessions_of(api: Api, username: str) -> int:
    with api.state.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT COUNT(*) FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE u.username = :u"
                ),
                {"u": username},
            ).scalar_one()
        )


def admin(api: Api, *args: str) -> int:
    return nce_main(["admin", args[0], "--db", api.url, *args[1:]])


def test_disabling_a_person_ends_their_sessions_at_once(api, capsys):
    person(api)
    person(api, "bob")
    tokens = [bearer(api), bearer(api)]
    bob = bearer(api, "bob")
    assert all(me(api, t) == 200 for t in tokens) and sessions_of(api, "alice") == 2
    assert admin(api, "disable-user", "--username", "alice") == 0
    assert "2 session(s) ended" in capsys.readouterr().err
    assert [me(api, t) for t in tokens] == [401, 401]
    assert sessions_of(api, "alice") == 0
    assert login(api, "alice", OLD).status_code == 401
    assert me(api, bob) == 200  # nobody else
    assert admin(api, "list-users", "--json") == 0
    listed = {u["username"]: u for u in map(json.loads, capsys.readouterr().out.splitlines())}
    assert listed["alice"]["enabled"] is False and listed["alice"]["sessions"] == 0
    assert listed["bob"]["enabled"] is True and listed["bob"]["sessions"] == 1
    assert admin(api, "list-users") == 0
    assert re.search(r"^alice\s+operator\s+disabled\s+0\s+ok$", capsys.readouterr().out, flags=re.M)
    assert admin(api, "enable-user", "--username", "alice") == 0
    assert login(api, "alice", OLD).status_code == 200
    (actor, disabled), (_, enabled) = entries(api, "user_disabled")[0], entries(api, "user_enabled")[0]
    assert actor.startswith("admin-cli:") and disabled == {"username": "alice", "sessions_ended": 2}
    assert enabled["username"] == "alice"
    capsys.readouterr()
    assert admin(api, "disable-user", "--username", "nobody") == 2
    assert "no user 'nobody'" in capsys.readouterr().err
    assert api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()["ok"] is True


@pytest.mark.parametrize("how", ["temporary", "password-file"])
def test_a_reset_password_must_be_changed_before_anything_else(api, capsys, tmp_path, how):
    person(api)
    old_token = bearer(api)
    args = ["reset-password", "--username", "alice"]
    chosen = "set by the admin 123"
    if how == "password-file":
        (tmp_path / "pw").write_text(chosen + "\n", encoding="utf-8")
        args += ["--password-file", str(tmp_path / "pw")]
    assert admin(api, *args) == 0
    out, err = capsys.readouterr()
    reset = out.strip() if how == "temporary" else chosen
    if how == "temporary":
        assert len(reset) >= MIN_LENGTH and reset not in err and "shown once" in err
    else:
        assert out == ""
    assert me(api, old_token) == 401  # the sessions ended
    assert login(api, "alice", OLD).status_code == 401
    token = bearer(api, "alice", reset)
    refused = api.client.get("/api/v1/cases", headers=token)
    assert refused.status_code == 403 and "change it first" in refused.json()["detail"]
    assert me(api, token) == 200
    page = api.client.get("/", headers=token, follow_redirects=False)  # the console sends them to the form
    assert page.status_code == 303 and page.headers["location"] == "/account/password"
    assert 'id="must-change"' in api.client.get("/account/password", headers=token).text
    r = api.client.post(
        "/api/v1/auth/password", json={"current_password": reset, "new_password": NEW}, headers=token
    )
    assert r.status_code == 204, r.text
    assert api.client.get("/api/v1/cases", headers=token).status_code == 200
    assert login(api, "alice", NEW).status_code == 200
    [(actor, payload)] = entries(api, "password_reset")
    assert actor.startswith("admin-cli:")
    assert payload == {
        "username": "alice", "temporary": how == "temporary", "must_change": True, "sessions_ended": 1,
    }  # fmt: skip
    assert reset not in json.dumps(payload)


def test_a_reset_password_is_checked_by_the_policy(api, capsys, tmp_path):
    person(api)
    (tmp_path / "pw").write_text("short\n", encoding="utf-8")
    assert admin(api, "reset-password", "--username", "alice", "--password-file", str(tmp_path / "pw")) == 2
    assert f"at least {MIN_LENGTH} characters" in capsys.readouterr().err
    assert login(api, "alice", OLD).status_code == 200  # unchanged
    assert entries(api, "password_reset") == []


# (current, new, status, the answer names) — each refused change leaves the old password working
REFUSED: list[tuple[str, str, int, str]] = [
    ("wrong current password", NEW, 403, "current password is wrong"),
    (OLD, "too short", 422, f"at least {MIN_LENGTH} characters"),
    (OLD, "alice", 422, f"at least {MIN_LENGTH} characters"),
    (OLD, "   Alice  ", 422, f"at least {MIN_LENGTH} characters"),
    (OLD, " " * 20, 422, "only spaces"),
    (OLD, OLD, 422, "differ from the current one"),
    (OLD, "x" * 1025, 422, "new_password"),
    ("", NEW, 422, "current_password"),
]


@pytest.mark.parametrize(
    ("current", "new", "status", "why"), REFUSED, ids=[f"{r[2]}:{r[3]}" for r in REFUSED]
)
def test_a_refused_own_password_change_changes_nothing(api, current, new, status, why):
    person(api)
    token = bearer(api)
    r = api.client.post(
        "/api/v1/auth/password", json={"current_password": current, "new_password": new}, headers=token
    )
    assert r.status_code == status and why in json.dumps(r.json(), ensure_ascii=False), r.text
    assert me(api, token) == 200
    assert login(api, "alice", OLD).status_code == 200
    assert entries(api, "password_changed") == []


def test_a_person_changes_their_own_password(api):
    person(api)
    other, token = bearer(api), bearer(api)
    r = api.client.post(
        "/api/v1/auth/password", json={"current_password": OLD, "new_password": NEW}, headers=token
    )
    assert r.status_code == 204, r.text
    assert me(api, token) == 200 and me(api, other) == 401  # this session stays, the others end
    assert login(api, "alice", OLD).status_code == 401
    assert login(api, "alice", NEW).status_code == 200
    assert entries(api, "password_changed") == [("user:alice", {"username": "alice", "sessions_ended": 1})]
    # only a person has a password
    for role in ("device", "case_system"):
        r = api.client.post(
            "/api/v1/auth/password",
            json={"current_password": OLD, "new_password": NEW},
            headers=api.headers(role),
        )
        assert r.status_code == 403, (role, r.text)
    api.client.cookies.clear()
    anonymous = api.client.post("/api/v1/auth/password", json={"current_password": OLD, "new_password": NEW})
    assert anonymous.status_code == 401


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


# (form, status, what the page says)
FORMS: list[tuple[dict[str, str], int, str]] = [
    ({"current": "wrong current password", "new": NEW, "repeat": NEW}, 403, "当前密码不正确"),
    ({"current": OLD, "new": NEW, "repeat": NEW + "x"}, 422, "两次输入的新密码不一致"),
    ({"current": OLD, "new": "short", "repeat": "short"}, 422, f"至少 {MIN_LENGTH} 个字符"),
    ({"current": "", "new": NEW, "repeat": NEW}, 422, "请填写当前密码和新密码"),
]


def test_the_console_form_changes_the_password(api):
    person(api)
    r = api.client.post(
        "/login",
        data={"username": "alice", "password": OLD, "csrf": csrf_of(api.client.get("/login").text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = api.client.get("/account/password")
    assert page.status_code == 200 and 'id="password-form"' in page.text and 'id="account-link"' in page.text
    token = csrf_of(page.text)
    for form, status, says in FORMS:
        r = api.client.post("/account/password", data={"csrf": token, **form}, follow_redirects=False)
        assert r.status_code == status and says in r.text, (form, r.status_code)
    assert (
        api.client.post("/account/password", data={"current": OLD, "new": NEW, "repeat": NEW}).status_code
        == 403
    )
    r = api.client.post(
        "/account/password",
        data={"csrf": token, "current": OLD, "new": NEW, "repeat": NEW},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/account/password?done=1"
    assert "密码已修改" in api.client.get(r.headers["location"]).text
    assert api.client.get("/").status_code == 200  # still signed in
    assert login(api, "alice", NEW).status_code == 200
    assert [a for a, _ in entries(api, "password_changed")] == ["user:alice"]


def test_a_revoked_client_token_is_refused_and_a_new_one_works(api, capsys, tmp_path):
    headers = api.case_system("ecase")
    assert api.client.get("/api/v1/cases", headers=headers).status_code == 200
    assert admin(api, "revoke-client", "--name", "ecase") == 0
    assert api.client.get("/api/v1/cases", headers=headers).status_code == 401
    capsys.readouterr()
    out = tmp_path / "ecase.token"
    assert admin(api, "new-client-token", "--name", "ecase", "--token-out", str(out)) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("ncec_") and out.read_text().strip() == token
    assert api.client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert api.client.get("/api/v1/cases", headers=headers).status_code == 401  # the old one stays dead
    assert [(a.split(":")[0], p) for a, p in entries(api, "client_revoked")] == [
        ("admin-cli", {"name": "ecase"})
    ]
    assert [p for _, p in entries(api, "client_token_issued")] == [{"name": "ecase"}]
    assert admin(api, "revoke-client", "--name", "nobody") == 2


# the policy, in its one place: (password, username, current, refused because)
POLICY: list[tuple[str, str, str | None, str | None]] = [
    ("a" * (MIN_LENGTH - 1), "alice", None, f"at least {MIN_LENGTH}"),
    ("a" * MIN_LENGTH, "alice", None, None),
    ("长城长城长城长城长城长城", "alice", None, None),  # characters, not bytes
    (" " * MIN_LENGTH, "alice", None, "only spaces"),
    ("Operator-0001", "operator-0001", None, "user name"),
    ("correct horse battery", "alice", "correct horse battery", "differ"),
    ("x" * 1025, "alice", None, "at most 1024"),
]


@pytest.mark.parametrize(("password", "username", "current", "why"), POLICY)
def test_the_password_policy(password, username, current, why):
    if why is None:
        assert check_new_password(password, username=username, current=current) == password
    else:
        with pytest.raises(Invalid, match=why):
            check_new_password(password, username=username, current=current)


def test_add_user_follows_the_policy(api, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("eleven char\n"))
    assert (
        nce_main(
            ["admin", "add-user", "--db", api.url, "--username", "eve", "--role", "admin", "--password-stdin"]
        )
        == 2
    )
    assert f"at least {MIN_LENGTH} characters" in capsys.readouterr().err


def test_every_identity_change_is_a_ledger_entry(api, capsys, tmp_path, monkeypatch):
    """Enrolling a device key, adding a person or a case system, switching a device off and on and
    giving it a new token: each is one ledger entry naming the admin who did it, never a token or a
    password; the enrolment names the key's fingerprint, the root every later package is checked by."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from nce.manifest import key_fingerprint, public_key_b64

    key = Ed25519PrivateKey.generate().public_key()
    pub = tmp_path / "edge-77.pub"
    pub.write_text(public_key_b64(key))
    assert admin(api, "add-device", "--device-id", "edge-77", "--pubkey", str(pub)) == 0
    assert admin(api, "add-device", "--device-id", "edge-77", "--pubkey", str(pub)) == 2  # no second entry
    assert admin(api, "disable-device", "--device-id", "edge-77") == 0
    assert admin(api, "disable-device", "--device-id", "edge-77") == 0  # nothing changed: no entry
    assert admin(api, "enable-device", "--device-id", "edge-77") == 0
    assert admin(api, "new-device-token", "--device-id", "edge-77") == 0
    assert admin(api, "add-client", "--name", "ecase-77") == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW + "\n"))
    assert admin(api, "add-user", "--username", "bob", "--role", "supervisor", "--password-stdin") == 0
    tokens = [line for line in capsys.readouterr().out.split() if line.startswith(("nced_", "ncec_"))]
    assert len(tokens) == 3
    expected = [
        ("device_enrolled", {"device_id": "edge-77", "key_fingerprint": key_fingerprint(key)}),
        ("device_disabled", {"device_id": "edge-77"}),
        ("device_enabled", {"device_id": "edge-77"}),
        ("device_token_issued", {"device_id": "edge-77"}),
        ("client_added", {"name": "ecase-77"}),
        ("user_added", {"username": "bob", "role": "supervisor"}),
    ]
    for action, payload in expected:
        got = entries(api, action)
        assert [(a.split(":")[0], p) for a, p in got] == [("admin-cli", payload)], (action, got)
    with api.session() as s:
        dumped = json.dumps([dict(e.payload) for e in s.execute(select(LedgerEntry)).scalars()])
    assert NEW not in dumped and not any(t in dumped for t in tokens)
    verify = api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()
    assert verify["ok"] is True, verify
