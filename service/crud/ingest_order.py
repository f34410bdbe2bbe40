"""The ingest's checks that decide on the device's order, run while the device's row is locked
(:func:`service.crud.ingest.ingest_package`; the ledger head is locked only at the commit): the
Idempotency-Key (checked once before and again after the device's lock), replays and reused
package ids (one query) and the device's hash chain. Each costs as few round trips as it can."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from nce.manifest import GENESIS_HASH, Manifest
from service.auth import Principal
from service.errors import Invalid
from service.models import Device, HitEventRow, IdempotencyKey
from service.schemas.hits import HitAccepted


@dataclass(frozen=True)
class IngestResult:
    status_code: int  # 201 first time, 200 for a repeat with the same Idempotency-Key
    body: HitAccepted
    replayed: bool


def idempotent(session: Session, *, principal: Principal, key: str, request_hash: str) -> IngestResult | None:
    row = session.execute(
        select(IdempotencyKey).where(IdempotencyKey.principal == principal.actor, IdempotencyKey.key == key)
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Invalid(f"Idempotency-Key {key!r} was used before with another payload")
    return IngestResult(200, HitAccepted.model_validate(row.response), replayed=True)


def remember(
    session: Session, *, principal: Principal, key: str, request_hash: str, body: HitAccepted
) -> None:
    session.add(
        IdempotencyKey(
            principal=principal.actor,
            key=key,
            request_hash=request_hash,
            status_code=201,
            response=body.model_dump(mode="json"),
        )
    )


def check_chain(session: Session, *, device: Device, manifest: Manifest, m_hash: str) -> bool:
    """Refuse a replay, an older sequence, a broken link or a reused package id; move the device's
    chain head (public copies are not part of the chain). Returns whether a sequence gap came before.
    One query finds both a replay and a reused package id."""
    before = session.execute(
        select(HitEventRow.seq, HitEventRow.manifest_hash).where(
            or_(
                HitEventRow.manifest_hash == m_hash,
                and_(
                    HitEventRow.device_id == device.device_id, HitEventRow.package_id == manifest.package_id
                ),
            )
        )
    ).all()
    seen = next((r for r in before if r.manifest_hash == m_hash), None)
    if seen is not None:
        raise Invalid(
            f"manifest replayed: package {manifest.package_id} (seq {seen.seq}) was ingested already"
        )
    in_chain = manifest.kind != "public_copy"
    last = device.last_seq or 0
    if in_chain and manifest.sequence <= last:
        raise Invalid(
            f"manifest out of order: sequence {manifest.sequence} is not after the last accepted {last}"
        )
    chain_gap = in_chain and manifest.sequence != last + 1
    expected = device.last_manifest_hash or GENESIS_HASH
    if in_chain and not chain_gap and manifest.prev_manifest_hash != expected:
        raise Invalid(
            f"chain break: sequence {manifest.sequence} names prev_manifest_hash "
            f"{manifest.prev_manifest_hash[:12]}…, the last accepted manifest is {expected[:12]}…"
        )
    if before:  # not a replay: the same package id under another manifest
        used = before[0]
        what = "a public copy" if used.seq is None else f"seq {used.seq}"
        raise Invalid(f"package_id: {manifest.package_id} was used before by this device ({what})")
    if in_chain:
        device.last_seq = manifest.sequence
        device.last_manifest_hash = m_hash
    return chain_gap
