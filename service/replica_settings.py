"""The settings every ``nce serve`` replica must agree on, checked when a replica starts.

Replicas behind one load balancer share PostgreSQL and the evidence store; a session cookie signed
by one must be good on the next, and the log's checkpoints and the accepted model releases must not
depend on which replica answered. The first replica records a fingerprint of each such setting
(domain-separated SHA-256, never the value) in ``replica_settings``; a replica whose value differs
refuses to start with one line naming the setting. After a deliberate change (a rotated secret),
start the first replica with ``NCE_ACCEPT_CHANGED_SETTINGS=1``: it records its values. SQLite is one
process, so nothing is checked there.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.models_replicas import ReplicaSetting
from service.settings import Settings, SettingsError

# setting -> the environment variable that sets it (named in the refusal)
AGREED: dict[str, str] = {
    "secret_key": "NCE_SECRET_KEY",
    "service_key": "NCE_SERVICE_KEY_FILE",
    "release_pubkeys": "NCE_RELEASE_PUBKEYS",
    "log_origin": "NCE_LOG_ORIGIN",
}


def _hash(name: str, value: bytes) -> str:
    return hashlib.sha256(b"nce-replica-setting\0" + name.encode() + b"\0" + value).hexdigest()


def fingerprints(settings: Settings, service_key: Ed25519PrivateKey) -> dict[str, str]:
    """One fingerprint per :data:`AGREED` setting: the service key by its public key, the release
    keys by their files' contents (in any order)."""
    public = service_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    releases = []
    for path in settings.release_pubkeys:
        try:
            releases.append(hashlib.sha256(path.read_bytes()).hexdigest())
        except OSError:
            releases.append(f"unreadable:{path}")
    return {
        "secret_key": _hash("secret_key", settings.secret_key.encode()),
        "service_key": _hash("service_key", public),
        "release_pubkeys": _hash("release_pubkeys", "\n".join(sorted(releases)).encode()),
        "log_origin": _hash("log_origin", settings.log_origin.encode()),
    }


def check_agreement(engine: Engine, mine: dict[str, str], *, accept_changed: bool = False) -> None:
    """Record ``mine`` where nothing is recorded yet (or all of it with ``accept_changed``); refuse a
    setting whose recorded fingerprint differs."""
    if engine.dialect.name == "sqlite":
        return
    with Session(engine) as session:
        for name, fingerprint in mine.items():
            row = session.get(ReplicaSetting, name)
            if row is None:
                session.add(ReplicaSetting(name=name, fingerprint=fingerprint))
                try:
                    session.commit()
                    continue
                except IntegrityError:  # another replica recorded it at the same moment
                    session.rollback()
                    row = session.execute(
                        select(ReplicaSetting).where(ReplicaSetting.name == name)
                    ).scalar_one()
            if row.fingerprint == fingerprint:
                continue
            if accept_changed:
                row.fingerprint = fingerprint
                session.commit()
                continue
            raise SettingsError(
                f"{name} ({AGREED.get(name, name)}) differs from the value the other replicas of this "
                f"database use (recorded {row.recorded_at:%Y-%m-%d %H:%M} UTC): start every replica with the "
                "same value, or, after a deliberate change, start one with NCE_ACCEPT_CHANGED_SETTINGS=1"
            )
