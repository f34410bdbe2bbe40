"""Model releases (:mod:`nce.release`): store one signed by a trusted release key, list them, find one.

A release's ``release.json`` is checked against the trusted release keys (``NCE_RELEASE_PUBKEYS``);
its model and card must be the ones it signs. The model and the card go into the evidence store (by
SHA-256, like evidence); the row keeps the signed record as it came. Adding is a ledger entry
``model_release_added``. The same release again changes nothing; another release under a stored
``release_id`` is a conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.manifest import canonical_json, key_fingerprint
from nce.release import ReleaseError, ReleaseRecord, load_release_pubkey, parse_signed_release, verify_signed
from service import ledger
from service.errors import Conflict, Invalid, NotFound, Unavailable
from service.evidence_store import EvidenceStore
from service.models_fleet import ModelRelease

MAX_LIST = 500


def trusted_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """The trusted release keys by fingerprint; an unreadable key file is :class:`Unavailable`."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            key = load_release_pubkey(path)
        except ReleaseError as exc:
            raise Unavailable(f"NCE_RELEASE_PUBKEYS: {exc}") from None
        keys[key_fingerprint(key)] = key
    return keys


def check_release(
    *, release_json: bytes, model: bytes, card: bytes, trusted: Mapping[str, Ed25519PublicKey]
) -> ReleaseRecord:
    """The record, if ``release_json`` is signed by a trusted key and signs ``model`` and ``card``;
    else :class:`Invalid` (422), one line."""
    try:
        signed = parse_signed_release(release_json)
        rid = signed.record.release_id
        key = trusted.get(signed.record.key_fingerprint)
        if key is None:
            raise Invalid(
                f"release {rid}: signed by key sha256 {signed.record.key_fingerprint[:16]}…, which is not a "
                "trusted release key (NCE_RELEASE_PUBKEYS)"
            )
        record = verify_signed(signed, key)
    except ReleaseError as exc:
        raise Invalid(str(exc)) from None
    digest = hashlib.sha256(model).hexdigest()
    if digest != record.model_sha256 or len(model) != record.model_bytes:
        raise Invalid(f"release {rid}: model.onnx sha256 {digest[:16]}… differs from the signed one")
    if hashlib.sha256(card).hexdigest() != record.card_sha256:
        raise Invalid(f"release {rid}: card.md differs from the signed card (sha256 mismatch)")
    return record


def release_by_id(session: Session, release_id: str) -> ModelRelease | None:
    return session.execute(
        select(ModelRelease).where(ModelRelease.release_id == release_id)
    ).scalar_one_or_none()


def get_release(session: Session, release_id: str) -> ModelRelease:
    row = release_by_id(session, release_id)
    if row is None:
        raise NotFound(f"no model release {release_id!r}")
    return row


def list_releases(session: Session, limit: int = MAX_LIST) -> list[ModelRelease]:
    return list(session.execute(select(ModelRelease).order_by(ModelRelease.id.desc()).limit(limit)).scalars())


def add_release(
    session: Session,
    *,
    store: EvidenceStore,
    release_json: bytes,
    model: bytes,
    card: bytes,
    trusted: Mapping[str, Ed25519PublicKey],
    actor: str,
) -> tuple[ModelRelease, bool]:
    """Check and store a release; ``(row, created)``. Commits."""
    record = check_release(release_json=release_json, model=model, card=card, trusted=trusted)
    signed = parse_signed_release(release_json).model_dump(mode="json")
    store.put_all([model, card])  # before the transaction (idempotent; an orphan is swept later)
    try:
        ledger.lock_head(session)
        existing = release_by_id(session, record.release_id)
        if existing is not None:
            session.rollback()
            if canonical_json(existing.signed) != canonical_json(signed):
                raise Conflict(f"release {record.release_id}: already stored with other content")
            return existing, False
        gate = record.gate
        entry = ledger.append(
            session,
            actor=actor,
            action="model_release_added",
            case_id=None,
            payload={
                "release_id": record.release_id,
                "model_sha256": record.model_sha256,
                "key_fingerprint": record.key_fingerprint,
                "gate_verdict": gate.verdict if gate is not None else None,
                "forced": gate.forced if gate is not None else False,
            },
        )
        row = ModelRelease(
            release_id=record.release_id,
            model_sha256=record.model_sha256,
            model_bytes=record.model_bytes,
            card_sha256=record.card_sha256,
            key_fingerprint=record.key_fingerprint,
            signed=signed,
            added_by=actor,
            ledger_seq=entry.seq,
        )
        session.add(row)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return row, True
