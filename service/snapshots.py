"""What the ledger records of a case, its party and its legal basis, so that the ledger alone says what
the tables must hold.

- :func:`case_state`: the case's state (every column a person or the workflow can change, times as
  :func:`nce.times.utc_ms` strings, nulls left out). :func:`service.ledger.append` adds it to every
  entry about a case as ``payload["case"]``: the values the case has *after* the entry, which
  :mod:`service.ledger_replay` replays and compares with the ``cases`` table.
- :func:`party_record`: the shop as the case shows it (一店一码: name, code, licence, address, …),
  recorded at review and at export; from then on the case's party is the recorded one, whatever
  happens to the registry row.
- :func:`legal_record`: the legal-basis row (its id — the violation —, the jurisdiction, the text and a
  version: the SHA-256 of the row's canonical JSON) recorded at the same moments.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nce.manifest import canonical_json, sha256_hex
from nce.times import utc_ms
from service.legal import LegalBasisTable
from service.models import Case, Shop

# the case columns the ledger carries (id, created_at and updated_at are bookkeeping, not state)
CASE_FIELDS: tuple[str, ...] = (
    "status",
    "violation",
    "original_violation",
    "site_id",
    "camera_id",
    "zone_id",
    "shop_id",
    "first_seen",
    "last_seen",
    "sightings",
    "hit_count",
    "flags",
    "reviewed_by",
    "reviewed_at",
    "review_reason",
    "notice_issued_at",
    "notice_deadline",
    "cleared_at",
    "last_seen_after_deadline",
    "exported_at",
)
PARTY_FIELDS: tuple[str, ...] = ("shop_id", "name", "code", "license_no", "address", "contact")


def plain(value: Any) -> Any:
    """A column value as the ledger records it: times as UTC strings with milliseconds."""
    if isinstance(value, dt.datetime):
        return utc_ms(value)
    if isinstance(value, list):
        return list(value)
    return value


def case_state(case: Case) -> dict[str, Any]:
    """The case's state as recorded in a ledger payload (a field that is null is left out)."""
    out: dict[str, Any] = {}
    for name in CASE_FIELDS:
        value = plain(getattr(case, name))
        if value is not None:
            out[name] = value
    return out


def party_record(shop: Shop | None) -> dict[str, Any] | None:
    """The registry row of the case's shop as the case shows it, or None (no shop, or not registered)."""
    if shop is None:
        return None
    out = {name: getattr(shop, name) for name in PARTY_FIELDS}
    out["created_at"] = utc_ms(shop.created_at)
    out["updated_at"] = utc_ms(shop.updated_at)
    return out


def legal_record(table: LegalBasisTable, violation: str) -> dict[str, Any] | None:
    """The legal-basis row for ``violation``: ``{id, jurisdiction, version, basis}``, or None."""
    basis = table.for_violation(violation)
    if basis is None:
        return None
    row = basis.model_dump(mode="json")
    body = {"id": violation, "jurisdiction": table.jurisdiction, "basis": row}
    return {**body, "version": "sha256:" + sha256_hex(canonical_json(body))}
