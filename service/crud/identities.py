"""Devices, users, client systems and sign-in sessions."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nce.manifest import ManifestError, key_fingerprint, load_public_key, public_key_b64
from service import ledger
from service.auth import Principal
from service.db import begin_write
from service.errors import Conflict, Invalid, NotFound, Unauthorized
from service.models import AuthSession, Client, Device, User, utcnow
from service.passwords import check_new_password
from service.schemas.common import USER_ROLES
from service.security import hash_password, new_token, token_hash, verify_password

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_name(what: str, value: str) -> str:
    if not _NAME.match(value):
        raise Invalid(f"{what} must be 1-64 letters, digits, '.', '_' or '-', got {value!r}")
    return value


def _public_key(data: bytes) -> tuple[str, str]:
    """The base64 raw key and its fingerprint from a key file (PEM, base64 of 32 bytes, or raw 32 bytes)."""
    try:
        key = load_public_key(data)
    except ManifestError as exc:
        raise Invalid(str(exc)) from exc
    except ValueError as exc:
        raise Invalid(f"not an Ed25519 public key: {exc}") from exc
    return public_key_b64(key), key_fingerprint(key)


def public_key_from_bytes(data: bytes) -> str:
    """The base64 raw key from a key file (PEM, base64 of 32 bytes, or raw 32 bytes)."""
    return _public_key(data)[0]


def add_device(session: Session, *, device_id: str, public_key: bytes, actor: str) -> str:
    """Enroll a device; return its API token (shown once, stored hashed). The enrolment is a ledger
    entry naming the key's fingerprint: the key every later package of the device is checked
    against. Commits."""
    _check_name("device id", device_id)
    key_b64, fingerprint = _public_key(public_key)
    ledger.lock_head(session)
    if session.get(Device, device_id) is not None:
        raise Conflict(f"device {device_id} is already enrolled")
    token = new_token("device")
    session.add(Device(device_id=device_id, public_key=key_b64, token_hash=token_hash(token)))
    ledger.append(
        session,
        actor=actor,
        action="device_enrolled",
        case_id=None,
        payload={"device_id": device_id, "key_fingerprint": fingerprint},
    )
    session.commit()
    return token


def _device(session: Session, device_id: str, *, for_update: bool = False) -> Device:
    device = session.get(Device, device_id, with_for_update=for_update)
    if device is None:
        raise NotFound(f"no device {device_id!r} is enrolled")
    return device


def set_device_enabled(session: Session, *, device_id: str, enabled: bool, actor: str) -> bool:
    """Disable an edge box (a stolen or retired one: its token and packages are refused at once) or
    enable it again; returns whether anything changed (a change is a ledger entry). Its key and hash
    chain are kept. Commits."""
    ledger.begin(session)  # the device's row, then the ledger head at the commit (an ingest's order)
    device = _device(session, device_id, for_update=True)
    changed = device.enabled != enabled
    device.enabled = enabled
    if changed:
        action = "device_enabled" if enabled else "device_disabled"
        ledger.append(session, actor=actor, action=action, case_id=None, payload={"device_id": device_id})
    session.commit()
    return changed


def new_device_token(session: Session, *, device_id: str, actor: str) -> str:
    """Give a device a new API token (shown once, stored hashed); the old one stops working. A ledger
    entry (never the token). Commits."""
    ledger.begin(session)  # the device's row, then the ledger head at the commit (an ingest's order)
    device = _device(session, device_id, for_update=True)
    token = new_token("device")
    device.token_hash = token_hash(token)
    ledger.append(
        session, actor=actor, action="device_token_issued", case_id=None, payload={"device_id": device_id}
    )
    session.commit()
    return token


def add_user(session: Session, *, username: str, role: str, password: str, actor: str) -> User:
    """Add a person (a ledger entry: who and in which role, never the password). Commits."""
    _check_name("username", username)
    if role not in USER_ROLES:
        raise Invalid(f"role must be one of {', '.join(USER_ROLES)}, got {role!r}")
    check_new_password(password, username=username)
    password_hash = hash_password(password)  # slow on purpose: before taking the ledger lock
    ledger.lock_head(session)
    if session.execute(select(User).where(User.username == username)).scalar_one_or_none() is not None:
        raise Conflict(f"user {username} exists")
    user = User(username=username, role=role, password_hash=password_hash)
    session.add(user)
    ledger.append(
        session, actor=actor, action="user_added", case_id=None, payload={"username": username, "role": role}
    )
    session.commit()
    return user


def add_client(session: Session, *, name: str, actor: str) -> str:
    """Register a case system; return its API token (shown once, stored hashed). A ledger entry.
    Commits."""
    _check_name("client name", name)
    ledger.lock_head(session)
    if session.execute(select(Client).where(Client.name == name)).scalar_one_or_none() is not None:
        raise Conflict(f"client {name} exists")
    token = new_token("client")
    session.add(Client(name=name, role="case_system", token_hash=token_hash(token)))
    ledger.append(session, actor=actor, action="client_added", case_id=None, payload={"name": name})
    session.commit()
    return token


def principal_for_token(session: Session, token: str) -> Principal | None:
    """The principal a bearer token or session token belongs to, or None."""
    digest = token_hash(token)
    if token.startswith("nced_"):
        device = session.execute(select(Device).where(Device.token_hash == digest)).scalar_one_or_none()
        if device is None or not device.enabled:
            return None
        return Principal("device", device.device_id, "device", public_key=device.public_key)
    if token.startswith("ncec_"):
        client = session.execute(select(Client).where(Client.token_hash == digest)).scalar_one_or_none()
        if client is None or not client.enabled:
            return None
        return Principal("client", client.name, client.role)
    if token.startswith("nceu_"):
        row = session.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.token_hash == digest)
        ).one_or_none()
        if row is None:
            return None
        auth, user = row
        if auth.expires_at <= utcnow() or not user.enabled:
            return None
        return Principal(
            "user",
            user.username,
            user.role,
            user_id=user.id,
            session_id=auth.id,
            must_change_password=user.must_change_password,
        )
    return None


def login(
    session: Session, *, username: str, password: str, ttl_s: int
) -> tuple[str, dt.datetime, Principal]:
    """Check a password (Argon2id) and open a session. Commits."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if (
        not verify_password(user.password_hash if user else None, password)
        or user is None
        or not user.enabled
    ):
        raise Unauthorized("wrong username or password")
    user_id, principal = user.id, Principal("user", user.username, user.role, user_id=user.id)
    must_change = user.must_change_password
    begin_write(session)  # after the (slow) password check, never during it
    token = new_token("user")
    expires = utcnow() + dt.timedelta(seconds=ttl_s)
    auth = AuthSession(user_id=user_id, token_hash=token_hash(token), expires_at=expires)
    session.add(auth)
    session.execute(delete(AuthSession).where(AuthSession.expires_at <= utcnow()))
    session.commit()
    return (
        token,
        expires,
        Principal(
            principal.kind,
            principal.name,
            principal.role,
            user_id=user_id,
            session_id=auth.id,
            must_change_password=must_change,
        ),
    )


def logout(session: Session, *, principal: Principal) -> None:
    if principal.session_id is not None:
        begin_write(session)
        session.execute(delete(AuthSession).where(AuthSession.id == principal.session_id))
        session.commit()
