"""Secrets: API tokens (random, stored as SHA-256), passwords (Argon2id), signed session cookies."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # Argon2id, library defaults (t=3, m=64 MiB, p=4)
# a hash to check against when the user does not exist, so timing does not reveal user names
_DUMMY_HASH = _hasher.hash("not a password")

TOKEN_PREFIXES = {"device": "nced_", "client": "ncec_", "user": "nceu_"}


def new_token(kind: str) -> str:
    """A random bearer token; its prefix says what it is for (``nced_`` device, ``ncec_`` client)."""
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def sign(secret: str, value: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsign(secret: str, signed: str) -> str | None:
    value, _, _mac = signed.rpartition(".")
    if not value:
        return None
    return value if hmac.compare_digest(sign(secret, value), signed) else None
