"""Ingest of signed evidence packages and of plain hit events.

Every check that needs no database runs first (manifest, device, signature, parts, hashes, types);
then one transaction, holding the ledger lock, checks the Idempotency-Key, replays and the device's
hash chain, files or merges the case and appends to the ledger. Files are staged under temporary
names and moved into the content-addressed store just before the commit; a failed commit removes
what it moved. A rejected request stores nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.manifest import (
    GENESIS_HASH,
    EventInfo,
    Manifest,
    ManifestError,
    SignatureInvalid,
    ZoneRef,
    is_safe_name,
    load_public_key,
    manifest_hash,
    parse_manifest,
    verify_files,
    verify_signature,
)
from nce.times import utc_ms
from nce.vocabulary import Violation
from service import ledger, workflow
from service.auth import Principal
from service.errors import Forbidden, Invalid, Unauthorized, UnsupportedMedia
from service.evidence_store import EvidenceStore, Staged
from service.models import Case, Device, EvidenceFile, HitEventRow, IdempotencyKey, utcnow
from service.schemas.hits import HitAccepted, HitEventIn
from service.sniff import check_type
from service.transparency import log as transparency_log

MANIFEST_PART = "manifest"


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


def _test_crash_after_commit() -> None:
    """TEST-ONLY fault injection (tests/test_delivery_faults.py): with NCE_TEST_CRASH_AFTER_COMMIT=1
    the service process dies (exit 9, like kill -9) right after an ingest commits and before its
    answer is sent, so that the edge's retry must get the stored result. Never set it in production."""
    if os.environ.get("NCE_TEST_CRASH_AFTER_COMMIT") == "1":
        os._exit(9)


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _device(session: Session, principal: Principal) -> Device:
    device = session.get(Device, principal.name)
    if device is None or not device.enabled:
        raise Unauthorized("device is not enrolled")
    return device


def check_package(
    session: Session, *, principal: Principal, parts: list[Part]
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


def _case_of_hit(session: Session, *, device_id: str, hit_id: str) -> Case | None:
    case_id = session.execute(
        select(HitEventRow.case_id)
        .where(
            HitEventRow.device_id == device_id, HitEventRow.hit_id == hit_id, HitEventRow.case_id.is_not(None)
        )
        .order_by(HitEventRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if case_id is None:
        return None
    return session.execute(select(Case).where(Case.id == case_id).with_for_update()).scalar_one()


def _open_case(
    session: Session, *, violation: str, shop_id: str | None, camera_id: str, zone_id: str
) -> Case | None:
    q = select(Case).where(Case.violation == violation, Case.status.in_(workflow.OPEN_STATUSES))
    if shop_id is not None:
        q = q.where(Case.shop_id == shop_id)
    else:
        q = q.where(Case.shop_id.is_(None), Case.camera_id == camera_id, Case.zone_id == zone_id)
    return session.execute(q.order_by(Case.id.desc()).limit(1).with_for_update()).scalar_one_or_none()


def _record_transition(session: Session, *, case: Case, to: str | None, actor: str, why: str) -> None:
    if to is not None:
        ledger.append(
            session, actor=actor, action=f"case_{to}", case_id=case.id, payload={"to": to, "why": why}
        )


def ingest_package(
    session: Session, *, store: EvidenceStore, principal: Principal, key: str, parts: list[Part]
) -> IngestResult:
    manifest, raw, files = check_package(session, principal=principal, parts=parts)
    req_hash = request_hash_for(raw, files)
    m_hash = manifest_hash(manifest)
    staged = Staged(store)
    try:
        # written (and fsynced) under temporary names before taking the lock, so that the lock is
        # held only for the database work and the renames
        m_sha = store.stage(staged, raw)
        for entry in manifest.files:
            store.stage(staged, files[entry.name].data)
        staged.sync()
        ledger.lock_head(session)
        repeat = _idempotent(session, principal=principal, key=key, request_hash=req_hash)
        if repeat is not None:
            session.rollback()
            staged.discard()
            return repeat
        seen = session.execute(
            select(HitEventRow).where(HitEventRow.manifest_hash == m_hash)
        ).scalar_one_or_none()
        if seen is not None:
            raise Invalid(
                f"manifest replayed: package {manifest.package_id} (seq {seen.seq}) was ingested already"
            )
        device = session.execute(
            select(Device).where(Device.device_id == principal.name).with_for_update()
        ).scalar_one()
        chain_gap = False
        if manifest.kind != "public_copy":
            last = device.last_seq or 0
            if manifest.sequence <= last:
                raise Invalid(
                    f"manifest out of order: sequence {manifest.sequence} is not after the last accepted {last}"
                )
            if manifest.sequence == last + 1:
                expected = device.last_manifest_hash or GENESIS_HASH
                if manifest.prev_manifest_hash != expected:
                    raise Invalid(
                        f"chain break: sequence {manifest.sequence} names prev_manifest_hash "
                        f"{manifest.prev_manifest_hash[:12]}…, the last accepted manifest is {expected[:12]}…"
                    )
            else:
                chain_gap = True
            device.last_seq = manifest.sequence
            device.last_manifest_hash = m_hash
        if manifest.kind == "sample":  # a frame to learn from: stored and recorded, never a case
            body = _store_sample(session, manifest=manifest, m_hash=m_hash, m_sha=m_sha, raw=raw,
                                 chain_gap=chain_gap, actor=principal.actor)  # fmt: skip
            _remember(session, principal=principal, key=key, request_hash=req_hash, body=body)
            session.flush()
            staged.publish()
            session.commit()
            _test_crash_after_commit()  # TEST-ONLY fault injection, off unless its env var is set
            return IngestResult(201, body, replayed=False)
        zone, violation, ev = _hit_of(manifest)
        ts = _parse_time(ev.ts)
        first_seen, last_seen = _parse_time(ev.first_seen), _parse_time(ev.last_seen)
        case, merged, moved = _file_case(
            session,
            manifest=manifest,
            ts=ts,
            first_seen=first_seen,
            last_seen=last_seen,
            chain_gap=chain_gap,
        )
        row = HitEventRow(
            device_id=device.device_id,
            hit_id=ev.hit_id,
            event="public_copy" if manifest.kind == "public_copy" else ev.event,
            seq=None if manifest.kind == "public_copy" else manifest.sequence,
            package_id=manifest.package_id,
            manifest_hash=m_hash,
            manifest=manifest.model_dump(mode="json"),
            case_id=case.id if case else None,
            violation=violation,
            camera_id=manifest.camera.id,
            zone_id=zone.id,
            shop_id=manifest.shop_id,
            ts=ts,
            chain_gap=chain_gap,
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
        body = HitAccepted(
            hit_id=ev.hit_id,
            case_id=case.id if case else None,
            case_status=case.status if case else None,
            merged=merged,
            chain_gap=chain_gap,
        )
        transparency_log.append(session, manifest=manifest, manifest_hash=m_hash)
        ledger.append(
            session,
            actor=principal.actor,
            action="hit_ingested",
            case_id=case.id if case else None,
            payload={
                "device_id": device.device_id,
                "sequence": manifest.sequence,
                "package_id": manifest.package_id,
                "kind": manifest.kind,
                "hit_id": ev.hit_id,
                "event": ev.event,
                "manifest_hash": m_hash,
                "manifest_sha256": m_sha,  # the stored manifest.json (the bytes as received)
                "files": {e.name: e.sha256 for e in manifest.files},
                "chain_gap": chain_gap,
                "merged": merged,
            },
        )
        if case is not None:
            _record_transition(
                session, case=case, to=moved, actor="system:ingest", why=f"{ev.event} at {ev.ts}"
            )
        _remember(session, principal=principal, key=key, request_hash=req_hash, body=body)
        session.flush()
        staged.publish()
        session.commit()
        _test_crash_after_commit()  # TEST-ONLY fault injection, off unless its env var is set
    except BaseException:
        session.rollback()
        staged.discard()
        staged.unpublish()
        raise
    return IngestResult(201, body, replayed=False)


def _hit_of(manifest: Manifest) -> tuple[ZoneRef, Violation, EventInfo]:
    """A hit package's zone, violation and event (the manifest model sets them for every kind but
    a sample)."""
    zone, violation, ev = manifest.zone, manifest.violation, manifest.event
    if zone is None or violation is None or ev is None:
        raise Invalid(f"a {manifest.kind} package needs zone, violation and event")
    return zone, violation, ev


def _store_sample(
    session: Session, *, manifest: Manifest, m_hash: str, m_sha: str, raw: bytes, chain_gap: bool, actor: str
) -> HitAccepted:
    """A sample package (a frame the edge picked to learn from; ``nce run`` with ``learning``): its
    row, its files, its log leaf and a ``sample_ingested`` ledger entry, as for every package, and
    never a case. The row has ``event == "sample"``, the package id as ``hit_id``, no violation or
    zone (empty strings) and the frame's time as ``ts``; the frame pool reads sample packages from
    these rows and their ``evidence_files`` (docs/delivery.md)."""
    sample = manifest.sample
    if sample is None:
        raise Invalid("a sample package needs its sample block")
    row = HitEventRow(
        device_id=manifest.device_id,
        hit_id=manifest.package_id,
        event="sample",
        seq=manifest.sequence,
        package_id=manifest.package_id,
        manifest_hash=m_hash,
        manifest=manifest.model_dump(mode="json"),
        case_id=None,
        violation="",
        camera_id=manifest.camera.id,
        zone_id="",
        shop_id=None,
        ts=_parse_time(sample.frame_utc),
        chain_gap=chain_gap,
    )
    session.add(row)
    session.flush()
    files = [("manifest.json", "manifest", m_sha, len(raw), "application/json")]
    files += [(e.name, e.role, e.sha256, e.size, e.mime) for e in manifest.files]
    for name, role, sha, size, mime in files:
        session.add(EvidenceFile(event_id=row.id, name=name, role=role, sha256=sha, size=size, mime=mime))
    transparency_log.append(session, manifest=manifest, manifest_hash=m_hash)
    ledger.append(
        session,
        actor=actor,
        action="sample_ingested",
        case_id=None,
        payload={
            "device_id": manifest.device_id,
            "sequence": manifest.sequence,
            "package_id": manifest.package_id,
            "kind": manifest.kind,
            "camera_id": manifest.camera.id,
            "reason": sample.reason,
            "manifest_hash": m_hash,
            "manifest_sha256": m_sha,  # the stored manifest.json (the bytes as received)
            "files": {e.name: e.sha256 for e in manifest.files},
            "chain_gap": chain_gap,
        },
    )
    return HitAccepted(
        hit_id=manifest.package_id, case_id=None, case_status=None, merged=False, chain_gap=chain_gap
    )


def _file_case(
    session: Session,
    *,
    manifest: Manifest,
    ts: dt.datetime,
    first_seen: dt.datetime,
    last_seen: dt.datetime,
    chain_gap: bool,
) -> tuple[Case | None, bool, str | None]:
    """Find or open the case for a package; return (case, merged, status it moved to)."""
    zone, violation, ev = _hit_of(manifest)
    if manifest.kind == "public_copy":
        assert manifest.derived_from is not None
        original = session.execute(
            select(HitEventRow).where(HitEventRow.manifest_hash == manifest.derived_from.manifest_hash)
        ).scalar_one_or_none()
        if original is None:
            raise Invalid(
                f"derived_from: no ingested package has manifest hash {manifest.derived_from.manifest_hash}"
            )
        case = session.get(Case, original.case_id) if original.case_id else None
        return case, case is not None, None
    case = _case_of_hit(session, device_id=manifest.device_id, hit_id=ev.hit_id)
    same_hit = case is not None
    merged = same_hit
    if case is None and ev.event == "confirmed" and manifest.kind == "violation":
        case = _open_case(
            session,
            violation=violation,
            shop_id=manifest.shop_id,
            camera_id=manifest.camera.id,
            zone_id=zone.id,
        )
        merged = case is not None
        if case is None:
            now = utcnow()
            case = Case(
                status="draft",
                violation=violation,
                site_id=manifest.site.id,
                camera_id=manifest.camera.id,
                zone_id=zone.id,
                shop_id=manifest.shop_id,
                first_seen=first_seen,
                last_seen=last_seen,
                sightings=0,
                hit_count=0,
                flags=[],
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
    if case is None:
        return None, False, None
    if not same_hit:
        case.hit_count += 1
    if chain_gap:
        workflow.add_flag(case, "chain_gap")
    event = "cleared" if manifest.kind == "cleared" else ev.event
    moved = workflow.apply_sighting(case, event=event, ts=ts, first_seen=first_seen, last_seen=last_seen)
    case.updated_at = utcnow()
    return case, merged, moved


def ingest_event(session: Session, *, principal: Principal, key: str, data: HitEventIn) -> IngestResult:
    """A plain (unsigned) hit event: updates the hit's case, if it has one; never opens a case."""
    _device(session, principal)
    req_hash = hashlib.sha256(ledger.canonical(data.model_dump(mode="json"))).hexdigest()
    try:
        ledger.lock_head(session)
        repeat = _idempotent(session, principal=principal, key=key, request_hash=req_hash)
        if repeat is not None:
            session.rollback()
            return repeat
        case = _case_of_hit(session, device_id=principal.name, hit_id=data.hit_id)
        moved = None
        if case is not None:
            moved = workflow.apply_sighting(
                case, event=data.event, ts=data.ts, first_seen=data.first_seen, last_seen=data.last_seen
            )
            case.updated_at = utcnow()
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
            )
        )
        body = HitAccepted(
            hit_id=data.hit_id,
            case_id=case.id if case else None,
            case_status=case.status if case else None,
            merged=case is not None,
        )
        payload: dict[str, Any] = {"hit_id": data.hit_id, "event": data.event, "ts": utc_ms(data.ts)}
        ledger.append(
            session,
            actor=principal.actor,
            action="hit_event",
            case_id=case.id if case else None,
            payload=payload,
        )
        if case is not None:
            _record_transition(
                session, case=case, to=moved, actor="system:ingest", why=f"{data.event} at {payload['ts']}"
            )
        _remember(session, principal=principal, key=key, request_hash=req_hash, body=body)
        session.commit()
        _test_crash_after_commit()  # TEST-ONLY fault injection, off unless its env var is set
    except BaseException:
        session.rollback()
        raise
    return IngestResult(201, body, replayed=False)
