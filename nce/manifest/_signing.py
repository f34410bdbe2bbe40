"""Signing and hashing: the signing payload, :func:`manifest_hash`, :func:`sign_manifest` and
:func:`verify_signature` (which key was used: :class:`KeyUsed`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nce.manifest._canonical import canonical_json, sha256_hex
from nce.manifest._errors import SignatureInvalid
from nce.manifest._keys import key_fingerprint, public_key_b64
from nce.manifest._model import Manifest, Signature


def _as_dict(manifest: Manifest | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(manifest, Manifest):
        return manifest.model_dump(mode="json")
    return dict(manifest)


def signing_payload(manifest: Manifest | Mapping[str, Any]) -> bytes:
    """The bytes that are signed: the canonical form of the manifest without ``signature``."""
    data = _as_dict(manifest)
    data.pop("signature", None)
    return canonical_json(data)


def manifest_hash(manifest: Manifest | Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical form of the whole (signed) manifest: the next prev hash."""
    return sha256_hex(canonical_json(_as_dict(manifest)))


def sign_manifest(manifest: Manifest, key: Ed25519PrivateKey) -> Manifest:
    """A copy of ``manifest`` with its signature block set (any earlier one is replaced)."""
    pub = key.public_key()
    sig = key.sign(signing_payload(manifest))
    block = Signature(
        public_key=public_key_b64(pub),
        key_fingerprint=key_fingerprint(pub),
        signature=base64.b64encode(sig).decode("ascii"),
    )
    return manifest.model_copy(update={"signature": block})


@dataclass(frozen=True)
class KeyUsed:
    """Which key a signature was checked against: ``given`` (a trusted key passed in) or
    ``manifest`` (the key the manifest carries, which proves integrity, not origin)."""

    source: Literal["given", "manifest"]
    fingerprint: str

    def __str__(self) -> str:
        where = "the given public key" if self.source == "given" else "the public key in the manifest"
        return f"{where} (sha256 {self.fingerprint})"


def verify_signature(
    manifest: Manifest | Mapping[str, Any], pubkey: Ed25519PublicKey | None = None
) -> KeyUsed:
    """Check the signature; return which key was used. Raises :class:`SignatureInvalid`.

    With ``pubkey`` the signature must be by that key (the service passes the enrolled device key);
    without it the key carried in the manifest is used (integrity only: say so to the user).
    """
    data = _as_dict(manifest)
    block = data.get("signature")
    if not isinstance(block, Mapping):
        raise SignatureInvalid("the manifest is not signed")
    if block.get("algorithm") != "Ed25519":
        raise SignatureInvalid(f"unsupported signature algorithm {block.get('algorithm')!r}")
    try:
        carried_raw = base64.b64decode(str(block.get("public_key", "")), validate=True)
        carried = Ed25519PublicKey.from_public_bytes(carried_raw)
        sig = base64.b64decode(str(block.get("signature", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"the signature block is malformed: {exc}") from exc
    if block.get("key_fingerprint") != sha256_hex(carried_raw):
        raise SignatureInvalid("key_fingerprint does not match the public key in the manifest")
    if pubkey is not None:
        used = KeyUsed("given", key_fingerprint(pubkey))
        key = pubkey
        if used.fingerprint != block.get("key_fingerprint"):
            raise SignatureInvalid(
                f"signed by another key: the manifest names key sha256 {block.get('key_fingerprint')}, "
                f"the given key is sha256 {used.fingerprint}"
            )
    else:
        used = KeyUsed("manifest", sha256_hex(carried_raw))
        key = carried
    try:
        key.verify(sig, signing_payload(data))
    except InvalidSignature as exc:
        raise SignatureInvalid(f"signature invalid (checked against {used})") from exc
    return used
