"""The ledger head's lock covers the ledger's own rows only: every statement an ingest or a review sends
between locking the head and its COMMIT writes the log leaf, the ledger entry or the head, nothing
else (the device, the case, the package's rows and the Idempotency-Key go before the lock)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event

# the tables a statement under the head lock may name: the log leaf (its index is the next after the
# largest), the ledger entry, the head
UNDER_LOCK = {"transparency_leaves", "ledger", "ledger_head"}
_LOCK = re.compile(r"^SELECT .* FROM ledger_head WHERE ledger_head\.id = ", re.S)
_TABLES = re.compile(r"\b(?:INSERT INTO|UPDATE|DELETE FROM|FROM|JOIN)\s+(\w+)", re.I)


class Holds:
    """The statements each connection sends from the head's lock to its commit or rollback."""

    def __init__(self, engine: Any) -> None:
        self.done: list[list[str]] = []
        self._open: dict[int, list[str]] = {}
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        text = " ".join(statement.split())
        if id(conn) in self._open:
            self._open[id(conn)].append(text)
        elif _LOCK.match(text):
            self._open[id(conn)] = []

    def _end(self, conn: Any) -> None:
        held = self._open.pop(id(conn), None)
        if held is not None:
            self.done.append(held)

    def take(self) -> list[list[str]]:
        done, self.done = self.done, []
        return done

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._end)
        event.remove(self.engine, "rollback", self._end)


def _check(holds: list[list[str]], *, postgres: bool) -> None:
    assert holds, "the head was never locked"
    for held in holds:
        assert held, "the head was locked for nothing"
        for statement in held:
            named = {t.lower() for t in _TABLES.findall(statement)}
            assert named <= UNDER_LOCK, f"under the ledger lock: {statement[:200]}"
        if postgres:  # the leaf, the entry and the head in one statement
            assert len(held) == 1, held


def test_only_the_ledgers_rows_are_written_under_its_lock(api: Any) -> None:
    postgres = api.state.engine.dialect.name == "postgresql"
    dev = api.device()  # an enrolment holds the lock for its whole transaction (an administrative write)
    supervisor = api.user("supervisor")
    holds = Holds(api.state.engine)
    try:
        first = dev.post(api.client, dev.package(shop_id="S-1"))
        assert first.status_code == 201, first.text
        _check(holds.take(), postgres=postgres)
        again = dev.post(api.client, dev.package(shop_id="S-1"))  # joins the open case of the shop
        assert again.status_code == 201, again.text
        _check(holds.take(), postgres=postgres)
        case_id = first.json()["case_id"]
        assert again.json()["case_id"] == case_id
        r = api.client.post(
            f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=supervisor
        )
        assert r.status_code == 200, r.text
        _check(holds.take(), postgres=False)  # a review: its entry, and the case's event, still one hold
    finally:
        holds.close()
    verify = api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()
    assert verify["ok"], verify
