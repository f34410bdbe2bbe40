"""The ledger's hashing contract: how the service hashes each ledger entry, and how an auditor
recomputes it from an export's ``ledger.json``.

An entry is ``{seq, ts, actor, action, case_id, payload, payload_hash, prev_hash, hash}``:
``payload_hash = sha256(canonical(payload))`` and ``hash = sha256(canonical({seq, ts, actor, action,
case_id, payload_hash, prev_hash}))`` with ``ts`` as :func:`nce.times.utc_ms` writes it; the first
entry's ``prev_hash`` is :data:`GENESIS_HASH`. ``canonical`` is JSON with sorted keys, no
whitespace, UTF-8 (not RFC 8785: the ledger predates the log and keeps its format).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from nce.times import utc_ms

GENESIS_HASH = "0" * 64


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_hash(
    *,
    seq: int,
    ts: dt.datetime,
    actor: str,
    action: str,
    case_id: int | None,
    payload_hash: str,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "ts": utc_ms(ts),
        "actor": actor,
        "action": action,
        "case_id": case_id,
        "payload_hash": payload_hash,
        "prev_hash": prev_hash,
    }
    return sha256_hex(canonical(body))


def entry_problem(entry: Mapping[str, Any]) -> str | None:
    """Why a ledger entry (as JSON, e.g. from ``ledger.json``) does not hash to itself, or None."""
    try:
        ts = dt.datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00"))
        if sha256_hex(canonical(entry["payload"])) != entry["payload_hash"]:
            return f"ledger entry {entry['seq']}: payload does not match its payload_hash"
        digest = entry_hash(
            seq=int(entry["seq"]),
            ts=ts,
            actor=str(entry["actor"]),
            action=str(entry["action"]),
            case_id=entry["case_id"],
            payload_hash=str(entry["payload_hash"]),
            prev_hash=str(entry["prev_hash"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        return f"ledger entry unreadable: {type(exc).__name__}: {exc}"
    if digest != entry["hash"]:
        return f"ledger entry {entry['seq']}: hash does not match its fields"
    return None
