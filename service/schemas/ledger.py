"""Ledger entries and the verification answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from service.schemas.common import Output


class LedgerEntryPublic(Output):
    seq: int
    ts: dt.datetime
    actor: str
    action: str
    case_id: int | None
    payload: dict[str, Any]
    payload_hash: str
    prev_hash: str
    hash: str


class LedgerVerifyPublic(Output):
    """``ok`` is false when the chain is broken or when a table differs from the ledger's replay
    (``reason`` names the first; ``GET /api/v1/ledger/state`` lists them all)."""

    ok: bool
    entries: int
    head_hash: str
    first_broken_seq: int | None
    reason: str | None


class DifferencePublic(Output):
    """One way the tables disagree with the ledger, as one line (``message``)."""

    message: str
    case_id: int | None
    shop_id: str | None
    seq: int | None = Field(description="the ledger entry that says otherwise; null when it has none")
    field: str | None


class LedgerStatePublic(Output):
    """The ledger replayed into the state of every case and shop, compared with the tables."""

    ok: bool
    cases: int = Field(description="cases the ledger names")
    packages: int = Field(description="evidence packages the ledger records")
    events: int = Field(description="plain hit events stored")
    shops: int = Field(description="shops in the registry")
    differences: list[DifferencePublic]
    unchecked: list[str] = Field(description="what old entries did not record, so was not checked")
