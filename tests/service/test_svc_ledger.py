"""The hash-chained ledger: an edited, removed or reordered row is found and named."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from nce.cli import main as nce_main


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
    _fill(api)
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
