"""Ingest of signed evidence packages and of plain hit events.

Every check that needs no database runs first (manifest, device, signature, clock, parts, hashes,
types); then one transaction, holding the ledger lock, checks the Idempotency-Key, replays, the
package id and the device's hash chain (:func:`_check_chain`), files the case
(:mod:`service.filing`), stores the rows (:func:`_store_rows`) and appends to the ledger
(:func:`_ledger_payload`). The files go into the content-addressed store (idempotent, durable)
after the checks and before that transaction, so the ledger lock never waits on storage; a failed
commit leaves objects no row names, which ``nce admin gc-evidence`` sweeps after a grace period. A
request refused by the checks stores nothing. Nothing here changes a case's status: deadlines are the sweeper's
(:mod:`service.workflow`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.manifest import (
    GENESIS_HASH,
    Manifest,
    ManifestError,
    SignatureInvalid,
    is_safe_name,
    load_public_key,
    manifest_hash,
    parse_manifest,
    verify_files,
    verify_signature,
)
from nce.times import parse_utc_ms, utc_ms
from service import filing, ledger, workflow
from service.auth import Principal
from service.clock import check_not_ahead
from service.crud.samples import store_sample
from service.errors import Forbidden, Invalid, Unauthorized, UnsupportedMedia
from service.evidence_store import EvidenceStore
from service.fleet import clock_offset_if_off
from service.models import Device, EvidenceFile, HitEventRow, IdempotencyKey, utcnow
from service.schemas.hits import HitAccepted, HitEventIn
from service.sniff import check_type
from service.transparency import log as transparency_log

MANIFEST_PART = "manifest"

# Called, in order, after an ingest has committed and before its answer is sent. Empty in the
# product; tests add to it (tests/support/crash_after_commit.py kills the process here).
AFTER_COMMIT: list[Callable[[], None]] = []


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class IngestResult:
    status_code: int  # 201 first time, 200 for a repeat with the same Idempotency-Key
    body: HitAccepted
    replayed: bool


def _after_commit() -> None:
    for hook in AFTER_COMMIT:
        hook()


def _device(session: Session, principal: Principal) -> Device:
    device = session.get(Device, principal.name)
    if device is None or not device.enabled:
        raise Unauthorized("device is not enrolled")
    return device


def _manifest_times(manifest: Manifest) -> list[tuple[str, dt.datetime | None]]:
    if manifest.sample is not None:
        return [
            ("sample.frame_utc", parse_utc_ms(manifest.sample.frame_utc)),
            ("created_at", parse_utc_ms(manifest.created_at)),
        ]
    ev = manifest.hit().event
    return [
        ("event.ts", parse_utc_ms(ev.ts)),
        ("event.first_seen", parse_utc_ms(ev.first_seen)),
        ("event.confirmed_at", parse_utc_ms(ev.confirmed_at) if ev.confirmed_at else None),
        ("event.last_seen", parse_utc_ms(ev.last_seen)),
        ("event.cleared_at", parse_utc_ms(ev.cleared_at) if ev.cleared_at else None),
        ("created_at", parse_utc_ms(manifest.created_at)),
    ]


def check_package(
    session: Session, *, principal: Principal, parts: list[Part], now: dt.datetime
) -> tuple[Manifest, bytes, dict[str, Part]]:
    """Every check that needs no lock: returns the manifest, its bytes and the file parts by name."""
    manifest_parts = [p for p in parts if p.name == MANIFEST_PART]
    if len(manifest_parts) != 1:
        raise Invalid(f"expected exactly one part named {MANIFEST_PART!r}, got {len(manifest_parts)}")
    raw = manifest_parts[0].data
    try:
        manifest = parse_manifest(raw)
    except ManifestError as exc:
        raise Invalid(f"manifest: {exc}") from exc
    if manifest.device_id != principal.name:
        raise Forbidden(f"manifest is from device {manifest.device_id}, the token is device {principal.name}")
    public_key = _device(session, principal).public_key
    session.rollback()  # no lock held while hashing (SQLite: the write lock)
    if manifest.signature is None:
        raise Unauthorized("manifest is not signed")
    try:
        verify_signature(manifest, load_public_key(public_key.encode("ascii")))
    except (SignatureInvalid, ManifestError) as exc:
        raise Unauthorized(f"signature: {exc}") from exc
    check_not_ahead(_manifest_times(manifest), now=now)
    files: dict[str, Part] = {}
    for p in parts:
        if p.name == MANIFEST_PART:
            continue
        if not is_safe_name(p.name):
            raise Invalid(f"part name {p.name!r} is not a safe file name")
        if p.name in files:
            raise Invalid(f"part {p.name} appears twice")
        if p.filename is None:
            raise Invalid(f"part {p.name} must be a file upload")
        files[p.name] = p
    listed = {f.name: f for f in manifest.files}
    missing = sorted(set(listed) - set(files))
    if missing:
        raise Invalid(f"missing part for file {', '.join(missing)} listed in the manifest")
    extra = sorted(set(files) - set(listed))
    if extra:
        raise Invalid(f"extra part {', '.join(extra)} not listed in the manifest")
    problems = verify_files(manifest, {n: p.data for n, p in files.items()})
    if problems:
        raise Invalid("; ".join(str(p) for p in problems))
    for name, entry in listed.items():
        why = check_type(name, entry.mime, files[name].data)
        if why:
            raise UnsupportedMedia(why)
    return manifest, raw, files


def request_hash_for(manifest_bytes: bytes, files: dict[str, Part]) -> str:
    h = hashlib.sha256()
    h.update(hashlib.sha256(manifest_bytes).digest())
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name].data).digest())
    return h.hexdigest()


def _idempotent(
    session: Session, *, principal: Principal, key: str, request_hash: str
) -> IngestResult | None:
    row = session.execute(
        select(IdempotencyKey).where(IdempotencyKey.principal == principal.actor, IdempotencyKey.key == key)
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Invalid(f"Idempotency-Key {key!r} was used before with another payload")
    return IngestResult(200, HitAccepted.model_validate(row.response), replayed=True)


def _remember(
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


def _check_chain(session: Session, *, device: Device, manifest: Manifest, m_hash: str) -> bool:
    """Refuse a replay, an older sequence, a broken link or a reused package id; move the device's
    chain head (public copies are not part of the chain). Returns whether a sequence gap came before."""
    seen = session.execute(select(HitEventRow.seq).where(HitEventRow.manifest_hash == m_hash)).one_or_none()
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
    used = session.execute(
        select(HitEventRow.seq).where(
            HitEventRow.device_id == device.device_id, HitEventRow.package_id == manifest.package_id
        )
    ).first()
    if used is not None:
        what = "a public copy" if used.seq is None else f"seq {used.seq}"
        raise Invalid(f"package_id: {manifest.package_id} was used before by this device ({what})")
    if in_chain:
        device.last_seq = manifest.sequence
        device.last_manifest_hash = m_hash
    return chain_gap


def _store_rows(
    session: Session,
    *,
    manifest: Manifest,
    raw: bytes,
    m_hash: str,
    m_sha: str,
    case_id: int | None,
    sighting: workflow.Sighting,
    chain_gap: bool,
) -> None:
    """The package's row and one row per file (the manifest's bytes included)."""
    public_copy = manifest.kind == "public_copy"
    zone, violation, ev = manifest.hit()
    row = HitEventRow(
        device_id=manifest.device_id,
        hit_id=ev.hit_id,
        event=filing.PUBLIC_COPY if public_copy else ev.event,
        seq=None if public_copy else manifest.sequence,
        package_id=manifest.package_id,
        manifest_hash=m_hash,
        manifest=manifest.model_dump(mode="json"),
        case_id=case_id,
        violation=violation,
        camera_id=manifest.camera.id,
        zone_id=zone.id,
        shop_id=manifest.shop_id,
        ts=sighting.ts,
        chain_gap=chain_gap,
        received_at=sighting.received_at,
        clock_offset_ms=clock_offset_if_off(session, manifest.device_id),  # flagged: its clock was off
    )
    session.add(row)
    session.flush()
    session.add(
        EvidenceFile(
            event_id=row.id,
            name="manifest.json",
            role="manifest",
            sha256=m_sha,
            size=len(raw),
            mime="application/json",
        )
    )
    for entry in manifest.files:
        session.add(
            EvidenceFile(
                event_id=row.id,
                name=entry.name,
                role=entry.role,
                sha256=entry.sha256,
                size=entry.size,
                mime=entry.mime,
            )
        )


def _ledger_payload(
    *, manifest: Manifest, m_hash: str, m_sha: str, chain_gap: bool, merged: bool
) -> dict[str, Any]:
    """What the ledger's ``hit_ingested`` entry records of a package."""
    return {
        "device_id": manifest.device_id,
        "sequence": manifest.sequence,
        "package_id": manifest.package_id,
        "kind": manifest.kind,
        "hit_id": manifest.hit().event.hit_id,
        "event": manifest.hit().event.event,
        "manifest_hash": m_hash,
        "manifest_sha256": m_sha,  # the stored manifest.json (the bytes as received)
        "files": {e.name: e.sha256 for e in manifest.files},
        "chain_gap": chain_gap,
        "merged": merged,
    }


def ingest_package(
    session: Session, *, store: EvidenceStore, principal: Principal, key: str, parts: list[Part]
) -> IngestResult:
    received_at = utcnow()
    manifest, raw, files = check_package(session, principal=principal, parts=parts, now=received_at)
    req_hash = request_hash_for(raw, files)
    m_hash = manifest_hash(manifest)
    # stored (durable, idempotent) before the transaction: the ledger lock never waits on storage,
    # and a failed commit leaves only objects no row names (nce admin gc-evidence sweeps them)
    m_sha, *_ = store.put_all([raw, *(files[entry.name].data for entry in manifest.files)])
    try:
        ledger.lock_head(session)
        repeat = _idempotent(session, principal=principal, key=key, request_hash=req_hash)
        if repeat is not None:
            session.rollback()
            return repeat
        device = session.execute(
            select(Device).where(Device.device_id == principal.name).with_for_update()
        ).scalar_one()
        chain_gap = _check_chain(session, device=device, manifest=manifest, m_hash=m_hash)
        if manifest.kind == "sample":  # a frame to learn from: stored and recorded, never a case
            body = store_sample(
                session, manifest=manifest, m_hash=m_hash, m_sha=m_sha, raw=raw, files=files,
                chain_gap=chain_gap, actor=principal.actor,
            )  # fmt: skip
        else:
            body = _store_hit(
                session, manifest=manifest, raw=raw, m_hash=m_hash, m_sha=m_sha, chain_gap=chain_gap,
                received_at=received_at, actor=principal.actor,
            )  # fmt: skip
        _remember(session, principal=principal, key=key, request_hash=req_hash, body=body)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    # the package is accepted (committed): what must follow an acceptance goes here
    _after_commit()
    return IngestResult(201, body, replayed=False)


def _store_hit(
    session: Session,
    *,
    manifest: Manifest,
    raw: bytes,
    m_hash: str,
    m_sha: str,
    chain_gap: bool,
    received_at: dt.datetime,
    actor: str,
) -> HitAccepted:
    """A hit package (violation, cleared, still_present, public copy): filed into its case (or none),
    its rows, its log leaf and a ``hit_ingested`` ledger entry."""
    sighting = filing.package_sighting(manifest, received_at=received_at)
    filed = filing.file_package(session, manifest=manifest, sighting=sighting, chain_gap=chain_gap)
    case = filed.case
    _store_rows(
        session,
        manifest=manifest,
        raw=raw,
        m_hash=m_hash,
        m_sha=m_sha,
        case_id=case.id if case else None,
        sighting=sighting,
        chain_gap=chain_gap,
    )
    body = HitAccepted(
        hit_id=manifest.hit().event.hit_id,
        case_id=case.id if case else None,
        case_status=case.status if case else None,
        merged=filed.merged,
        chain_gap=chain_gap,
    )
    transparency_log.append(session, manifest=manifest, manifest_hash=m_hash)
    ledger.append(
        session,
        actor=actor,
        action="hit_ingested",
        case_id=case.id if case else None,
        payload=_ledger_payload(
            manifest=manifest, m_hash=m_hash, m_sha=m_sha, chain_gap=chain_gap, merged=filed.merged
        ),
    )
    return body


def ingest_event(session: Session, *, principal: Principal, key: str, data: HitEventIn) -> IngestResult:
    """A plain (unsigned) hit event: sightings and times of the hit's case, if it has one; never a
    status, never a new case."""
    received_at = utcnow()
    _device(session, principal)
    check_not_ahead(
        [("ts", data.ts), ("first_seen", data.first_seen), ("last_seen", data.last_seen)], now=received_at
    )
    req_hash = hashlib.sha256(ledger.canonical(data.model_dump(mode="json"))).hexdigest()
    try:
        ledger.lock_head(session)
        repeat = _idempotent(session, principal=principal, key=key, request_hash=req_hash)
        if repeat is not None:
            session.rollback()
            return repeat
        sighting = workflow.Sighting(
            event=data.event,
            ts=data.ts,
            first_seen=data.first_seen,
            last_seen=data.last_seen,
            received_at=received_at,
            signed=False,
        )
        case = filing.file_event(session, device_id=principal.name, hit_id=data.hit_id, sighting=sighting)
        session.add(
            HitEventRow(
                device_id=principal.name,
                hit_id=data.hit_id,
                event=data.event,
                case_id=case.id if case else None,
                violation=str(data.violation),
                camera_id=data.camera_id,
                zone_id=data.zone_id,
                shop_id=data.shop_id,
                ts=data.ts,
                received_at=received_at,
            )
        )
        body = HitAccepted(
            hit_id=data.hit_id,
            case_id=case.id if case else None,
            case_status=case.status if case else None,
            merged=case is not None,
        )
        ledger.append(
            session,
            actor=principal.actor,
            action="hit_event",
            case_id=case.id if case else None,
            payload={"hit_id": data.hit_id, "event": data.event, "ts": utc_ms(data.ts)},
        )
        _remember(session, principal=principal, key=key, request_hash=req_hash, body=body)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    _after_commit()
    return IngestResult(201, body, replayed=False)
