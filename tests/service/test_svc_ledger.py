"""The hash-chained ledger: an edited, removed or reordered row is found and named."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from nce.cli import main as nce_main
from nce.manifest import canonical_json, sha256_hex
from service import ledger


def _fill(api, n=3):
    dev = api.device()
    for _ in range(n):
        dev.post(api.client, dev.package()).raise_for_status()


def _verify(api):
    return api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()


EDITS = [
    (
        "payload edited",
        "UPDATE ledger SET payload = :p WHERE seq = 2",
        {"p": '{"hit_id": "forged"}'},
        2,
        "payload",
    ),
    ("actor edited", "UPDATE ledger SET actor = 'user:mallory' WHERE seq = 2", {}, 2, "entry edited"),
    ("hash rewritten", "UPDATE ledger SET hash = :h WHERE seq = 1", {"h": "f" * 64}, 1, "entry edited"),
    ("chain relinked", "UPDATE ledger SET prev_hash = :h WHERE seq = 3", {"h": "e" * 64}, 3, "prev_hash"),
    ("entry removed", "DELETE FROM ledger WHERE seq = 2", {}, 2, "jumps"),
    ("last entry removed", "DELETE FROM ledger WHERE seq = 3", {}, 3, "head"),
]


@pytest.mark.parametrize(
    ("sql", "params", "broken", "why"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS]
)
def test_edited_ledger_row_is_detected(api, sql, params, broken, why, capsys):
    _fill(api, 2)  # entry 1 is the device's enrolment, 2 and 3 its packages
    assert _verify(api) == {
        "ok": True,
        "entries": 3,
        "head_hash": _verify(api)["head_hash"],
        "first_broken_seq": None,
        "reason": None,
    }
    with api.state.engine.begin() as conn:
        conn.execute(text(sql), params)
    r = _verify(api)
    assert r["ok"] is False and r["first_broken_seq"] == broken and why in r["reason"], r
    assert nce_main(["ledger", "verify", "--db", api.url]) == 1
    assert f"BROKEN at entry {broken}" in capsys.readouterr().out


def test_cli_verify_ok(api, capsys):
    _fill(api, 2)
    assert nce_main(["ledger", "verify", "--db", api.url, "--json"]) == 0
    assert '"ok": true' in capsys.readouterr().out


# The ledger's hash form (service.ledger.LEDGER_HASH_FORM, docs/api.md): these bytes and hashes are
# pinned. Every stored ledger hash depends on them; if one of these rows fails, stored ledgers would
# stop verifying.
PAYLOAD = {
    "why": "still_present at 2026-11-26T08:00:00.000Z",
    "b": [1, True, None, '案件\n"x"'],
    "a": {"z": 0, "k": -7},
}
FORM = [
    (
        "payload",
        lambda: ledger.canonical(PAYLOAD),
        '{"a":{"k":-7,"z":0},"b":[1,true,null,"案件\\n\\"x\\""],"why":"still_present at 2026-11-26T08:00:00.000Z"}'.encode(),
    ),
    (
        "payload hash",
        lambda: sha256_hex(ledger.canonical(PAYLOAD)),
        "12c7b4070bb0475f7e93e6623df52d7b0ce79707be60acd321f3ec90967310d2",
    ),
    (
        "entry hash",
        lambda: ledger.entry_hash(
            seq=1,
            ts=dt.datetime(2026, 11, 26, 8, 0, 0, 123000, tzinfo=dt.UTC),
            actor="device:edge-01",
            action="hit_ingested",
            case_id=1,
            payload_hash=sha256_hex(ledger.canonical(PAYLOAD)),
            prev_hash="0" * 64,
        ),
        "5c6b3aefe59435b672433856c7b063c65311438351a4046ac79b77cbe92d16a4",
    ),
    # where it meets and where it leaves RFC 8785 (the manifest's form), as docs/api.md says
    (
        "agrees with RFC 8785 without floats",
        lambda: ledger.canonical(PAYLOAD) == canonical_json(PAYLOAD),
        True,
    ),
    ("floats as Python writes them", lambda: ledger.canonical({"x": 1e-7, "y": 1.0}), b'{"x":1e-07,"y":1.0}'),
]


@pytest.mark.parametrize(("make", "expected"), [f[1:] for f in FORM], ids=[f[0] for f in FORM])
def test_the_ledger_hash_form_is_pinned(make, expected):
    assert ledger.LEDGER_HASH_FORM == "nce-ledger-json-v1"
    assert make() == expected
