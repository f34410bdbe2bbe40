"""The ledger's hashing contract: how the service hashes each ledger entry, and how an auditor
recomputes it from an export's ``ledger.json``.

An entry is ``{seq, ts, actor, action, case_id, payload, payload_hash, prev_hash, hash}``:
``payload_hash = sha256(canonical(payload))`` and ``hash = sha256(canonical({seq, ts, actor, action,
case_id, payload_hash, prev_hash}))`` with ``ts`` as :func:`nce.times.utc_ms` writes it; the first
entry's ``prev_hash`` is :data:`GENESIS_HASH`. ``canonical`` is JSON with sorted keys, no
whitespace, UTF-8 (not RFC 8785: the ledger predates the log and keeps its format).

That canonical form is the ledger's own, named :data:`LEDGER_HASH_FORM` and specified in docs/api.md
("The ledger's hash form"); it is NOT the manifest's RFC 8785 form (``nce.manifest.canonical_json``).
The two agree on every value the service records (strings, integers, booleans, null, arrays and
objects of those, keys without characters beyond U+FFFF) and differ on floats. Every stored hash is
of this form, so it is fixed: a change would be a new, versioned form with a migration.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Final

from nce.manifest import GENESIS_HASH, sha256_hex
from nce.times import utc_ms

__all__ = ["GENESIS_HASH", "LEDGER_HASH_FORM", "canonical", "entry_hash", "entry_problem", "sha256_hex"]

LEDGER_HASH_FORM: Final = "nce-ledger-json-v1"


def canonical(value: Any) -> bytes:
    """The ledger's canonical JSON (:data:`LEDGER_HASH_FORM`): keys sorted by code point at every
    level, no whitespace (``,`` and ``:``), non-ASCII written as itself in UTF-8, strings escaped as
    Python's ``json`` does (``\\"``, ``\\\\``, ``\\n``-style escapes, ``\\u00XX`` for other control
    characters), integers in decimal, ``true``/``false``/``null``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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
