"""Ingest of signed evidence packages and of plain hit events.

Every check that needs no lock runs first (manifest, device, signature, clock, parts, hashes,
types, a repeated Idempotency-Key, the device's clock offset); then one transaction
(:func:`service.ledger.begin`) locks the device's row, re-checks the Idempotency-Key, replays and the package id (one query) and the device's hash chain
(:mod:`service.crud.ingest_order`), files the case (:mod:`service.filing`: its row locked), stores
the rows (:func:`_store_rows`: the files in one INSERT) and stages the log leaf and the ledger entry
(:func:`_ledger_payload`); only its commit locks the ledger head, for the leaf, the entry and the
head's row and the COMMIT. The files go into the content-addressed store (idempotent, durable)
after the checks and before that transaction, so the ledger lock never waits on storage; a failed
commit leaves objects no row names, which ``nce admin gc-evidence`` sweeps after a grace period. A
request refused by the checks stores nothing. Nothing here changes a case's status: deadlines are
the sweeper's (:mod:`service.workflow`).
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
from service.crud.ingest_order import IngestResult as IngestResult  # the routes import it from here
from service.crud.ingest_order import check_chain, idempotent, remember
from service.crud.samples import store_sample
from service.errors import Forbidden, Invalid, Unauthorized, UnsupportedMedia
from service.evidence_store import EvidenceStore
from service.fleet import clock_offset_if_off
from service.models import Device, EvidenceFile, HitEventRow, utcnow
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
    # the key read with the token (the same row, this request); a principal made another way: the row
    public_key = principal.public_key or _device(session, principal).public_key
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


def request_hash_for(manifest_sha256: str, file_sha256: dict[str, str]) -> str:
    """What an Idempotency-Key is bound to: the manifest's bytes and every file's name and bytes,
    by their SHA-256s (hex; the files' as the checked manifest lists them: equal to their bytes')."""
    h = hashlib.sha256()
    h.update(bytes.fromhex(manifest_sha256))
    for name in sorted(file_sha256):
        h.update(name.encode() + b"\0" + bytes.fromhex(file_sha256[name]))
    return h.hexdigest()


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
    clock_offset_ms: int | None,
) -> None:
    """The package's row and one row per file (the manifest's bytes included), the files in one
    INSERT (``add_all``, flushed with the next statement)."""
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
        clock_offset_ms=clock_offset_ms,  # flagged: its clock was off (read before the lock)
    )
    session.add(row)
    session.flush()
    stored = [("manifest.json", "manifest", m_sha, len(raw), "application/json")]
    stored += [(e.name, e.role, e.sha256, e.size, e.mime) for e in manifest.files]
    session.add_all(
        EvidenceFile(event_id=row.id, name=name, role=role, sha256=sha, size=size, mime=mime)
        for name, role, sha, size, mime in stored
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
    # every file was hashed once, by the check (verify_files): its SHA-256 is the one listed
    m_sha = hashlib.sha256(raw).hexdigest()
    req_hash = request_hash_for(m_sha, {entry.name: entry.sha256 for entry in manifest.files})
    m_hash = manifest_hash(manifest)
    # reads that decide nothing about the ledger's order, before the lock: a repeat answers without
    # storing or locking (re-checked under the lock, in the device's query); the clock offset
    repeat = idempotent(session, principal=principal, key=key, request_hash=req_hash)
    offset = clock_offset_if_off(session, manifest.device_id)
    session.rollback()
    if repeat is not None:
        return repeat
    # stored (durable, idempotent) before the transaction: the ledger lock never waits on storage,
    # and a failed commit leaves only objects no row names (nce admin gc-evidence sweeps them)
    store.put_all(
        [raw, *(files[entry.name].data for entry in manifest.files)],
        known_sha256=[m_sha, *(entry.sha256 for entry in manifest.files)],
    )
    try:
        # the rows' transaction: this device's packages one at a time (its row locked), the case's
        # row locked by the filing; the ledger head is locked only at the commit (service.ledger)
        ledger.begin(session)
        device = session.execute(
            select(Device).where(Device.device_id == principal.name).with_for_update()
        ).scalar_one()
        if not device.enabled:  # disabled while this request was checked and stored: refused still
            raise Unauthorized("device is not enrolled")
        # the same key committed while this request waited for the device (a statement after the
        # lock's: PostgreSQL's snapshot of the locking statement predates the wait)
        repeat = idempotent(session, principal=principal, key=key, request_hash=req_hash)
        if repeat is not None:
            session.rollback()
            return repeat
        chain_gap = check_chain(session, device=device, manifest=manifest, m_hash=m_hash)
        if manifest.kind == "sample":  # a frame to learn from: stored and recorded, never a case
            body = store_sample(
                session, manifest=manifest, m_hash=m_hash, m_sha=m_sha, raw=raw, files=files,
                chain_gap=chain_gap, actor=principal.actor,
            )  # fmt: skip
        else:
            body = _store_hit(
                session, manifest=manifest, raw=raw, m_hash=m_hash, m_sha=m_sha, chain_gap=chain_gap,
                received_at=received_at, actor=principal.actor, clock_offset_ms=offset,
            )  # fmt: skip
        remember(session, principal=principal, key=key, request_hash=req_hash, body=body)
        session.commit()  # the head locked, the log leaf, the ledger entry and the head, COMMIT
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
    clock_offset_ms: int | None,
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
        clock_offset_ms=clock_offset_ms,
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
        ledger.begin(session)  # the head locked at the commit; the device's row serialises its events
        session.execute(select(Device.device_id).where(Device.device_id == principal.name).with_for_update())
        repeat = idempotent(session, principal=principal, key=key, request_hash=req_hash)
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
        remember(session, principal=principal, key=key, request_hash=req_hash, body=body)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    _after_commit()
    return IngestResult(201, body, replayed=False)
