"""Ledger entries and the verification answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
    ok: bool
    entries: int
    head_hash: str
    first_broken_seq: int | None
    reason: str | None
