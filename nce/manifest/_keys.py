"""Ed25519 keys: generate, save (never overwriting), load (PEM, base64 or raw), fingerprint."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nce.manifest._canonical import sha256_hex
from nce.manifest._errors import ManifestError


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw_public(key)).decode("ascii")


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw 32-byte public key."""
    return sha256_hex(_raw_public(key))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise ManifestError(f"{path}: already exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise ManifestError(f"{path}: cannot create: {exc.strerror}") from exc
    try:
        os.fchmod(fd, mode)  # umask may have narrowed or widened it
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def save_private_key(key: Ed25519PrivateKey, path: str | Path) -> Path:
    """Write the private key as unencrypted PKCS#8 PEM, mode 0600; never overwrites."""
    p = Path(path)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_new(p, pem, 0o600)
    return p


def save_public_key(key: Ed25519PublicKey, path: str | Path) -> Path:
    """Write the public key as SubjectPublicKeyInfo PEM, mode 0644; never overwrites."""
    p = Path(path)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(p, pem, 0o644)
    return p


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key: PKCS#8 PEM, or the raw 32 bytes."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{p}: cannot read the private key: {exc.strerror}") from exc
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{p}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ManifestError(f"{p}: expected an Ed25519 private key, got {type(key).__name__}")
    return key


def load_public_key(source: str | Path | bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a file path or bytes: PEM, base64 of the raw key, or raw."""
    if isinstance(source, bytes):
        data, where = source, "public key"
    else:
        p = Path(source)
        try:
            data, where = p.read_bytes(), str(p)
        except OSError as exc:
            raise ManifestError(f"{p}: cannot read the public key: {exc.strerror}") from exc
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise ManifestError(f"{where}: not a PEM public key ({exc})") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ManifestError(f"{where}: expected an Ed25519 public key, got {type(key).__name__}")
        return key
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ManifestError(f"{where}: expected PEM, base64 of 32 bytes, or 32 raw bytes") from exc
    if len(raw) != 32:
        raise ManifestError(f"{where}: expected a 32-byte Ed25519 key, got {len(raw)} bytes")
    return Ed25519PublicKey.from_public_bytes(raw)
