"""The transparency log's contract: its leaves, signed checkpoints and inclusion proofs.

The case service appends one leaf per accepted evidence package (every kind, public copies too) to
an append-only Merkle tree (:mod:`nce.merkle`, RFC 9162 hashing). Both sides import this module:
the service writes leaves, checkpoints and proofs; an auditor checks them offline.

Leaf (the bytes hashed as ``SHA-256(0x00 || leaf)``): the RFC 8785 canonical JSON of
``{"device_id", "manifest_hash", "received_at", "sequence"}`` — the device and its sequence number
(the package's place in that device's chain), the hex SHA-256 of the canonical manifest (which
commits to everything else in it, its signature included), and the UTC time with milliseconds when
the service accepted it. A public copy keeps its original's device and sequence (its own manifest
hash tells it apart).

Checkpoint (what the service key signs): the canonical JSON of :class:`Checkpoint`, ``{"format":
"nce-checkpoint/1", "log", "tree_size", "root_hash", "ledger_seq", "ledger_head_hash", "time"}``:
the log's name, how many leaves, the tree hash of those leaves, and the ledger's head (sequence and
hash) at the same instant, so that a later truncated or rewritten log *or* ledger no longer matches
a checkpoint someone kept. The signature block is the manifest's :class:`~nce.manifest.Signature`
(Ed25519, base64 key and signature, hex SHA-256 fingerprint of the raw public key).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nce.errors import NceError
from nce.manifest import Signature, canonical_json, key_fingerprint, public_key_b64, sha256_hex
from nce.merkle import ProofError, from_hex, leaf_hash, verify_inclusion

CHECKPOINT_FORMAT: Literal["nce-checkpoint/1"] = "nce-checkpoint/1"
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lowercase hex SHA-256")]
UtcMsText = Annotated[
    str,
    Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", description="UTC, milliseconds"),
]


class CheckpointError(NceError):
    """A checkpoint that cannot be read or whose signature does not verify."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogLeaf(_M):
    """One accepted package, as the log holds it."""

    device_id: str
    sequence: int = Field(ge=1)
    manifest_hash: Hex64
    received_at: UtcMsText

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def hash(self) -> bytes:
        return leaf_hash(self.to_bytes())


class Checkpoint(_M):
    """The log's state at one instant (what is signed)."""

    format: Literal["nce-checkpoint/1"] = CHECKPOINT_FORMAT
    log: str = Field(description="the log's origin name (the service's NCE_LOG_ORIGIN)")
    tree_size: int = Field(ge=0)
    root_hash: Hex64
    ledger_seq: int = Field(ge=0)
    ledger_head_hash: Hex64
    time: UtcMsText

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


class SignedCheckpoint(_M):
    """``transparency/checkpoint.json`` in an export, and the API's checkpoint answer."""

    checkpoint: Checkpoint
    signature: Signature

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True).encode() + b"\n"


class InclusionProof(_M):
    """Where one package sits in the log, and the audit path to a checkpoint's root."""

    leaf_index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    leaf: LogLeaf
    audit_path: list[Hex64]

    def verify(self, checkpoint: Checkpoint) -> None:
        """Raise :class:`~nce.merkle.ProofError` unless the proof leads to ``checkpoint``'s root."""
        if self.tree_size != checkpoint.tree_size:
            raise ProofError(
                f"the proof is for a tree of {self.tree_size} leaves, the checkpoint has {checkpoint.tree_size}"
            )
        verify_inclusion(
            self.leaf.hash(),
            self.leaf_index,
            self.tree_size,
            [from_hex(h, "audit path node") for h in self.audit_path],
            from_hex(checkpoint.root_hash, "root_hash"),
        )


class ConsistencyProof(_M):
    """That the tree of ``first`` leaves is a prefix of the tree of ``second`` leaves."""

    first: int = Field(ge=0)
    second: int = Field(ge=0)
    proof: list[Hex64]


def sign_checkpoint(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> SignedCheckpoint:
    pub = key.public_key()
    return SignedCheckpoint(
        checkpoint=checkpoint,
        signature=Signature(
            public_key=public_key_b64(pub),
            key_fingerprint=key_fingerprint(pub),
            signature=base64.b64encode(key.sign(checkpoint.to_bytes())).decode("ascii"),
        ),
    )


def verify_checkpoint(
    signed: SignedCheckpoint, pubkey: Ed25519PublicKey | None = None, *, fingerprint: str | None = None
) -> str:
    """Check the signature; return the signing key's fingerprint. Raises :class:`CheckpointError`.

    With ``pubkey`` the signature must be by that key; with ``fingerprint`` (a pin from ``nce ledger
    publish-key``) the key's fingerprint must be that one. Without either, the key in the block is
    used: that proves integrity only, not that the service made it.
    """
    block = signed.signature
    try:
        carried_raw = base64.b64decode(block.public_key, validate=True)
        carried = Ed25519PublicKey.from_public_bytes(carried_raw)
        sig = base64.b64decode(block.signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"checkpoint signature block is malformed: {exc}") from exc
    if sha256_hex(carried_raw) != block.key_fingerprint:
        raise CheckpointError("checkpoint key_fingerprint does not match the public key it carries")
    key = carried
    if pubkey is not None:
        if key_fingerprint(pubkey) != block.key_fingerprint:
            raise CheckpointError(
                f"checkpoint signed by key sha256 {block.key_fingerprint}, "
                f"not by the service key sha256 {key_fingerprint(pubkey)}"
            )
        key = pubkey
    if fingerprint is not None and block.key_fingerprint != fingerprint.lower():
        raise CheckpointError(
            f"checkpoint signed by key sha256 {block.key_fingerprint}, not by the pinned key sha256 {fingerprint}"
        )
    try:
        key.verify(sig, signed.checkpoint.to_bytes())
    except InvalidSignature as exc:
        raise CheckpointError(
            f"checkpoint signature invalid (key sha256 {block.key_fingerprint}): it was altered"
        ) from exc
    return block.key_fingerprint


def parse_signed_checkpoint(data: bytes | str) -> SignedCheckpoint:
    """Read ``checkpoint.json`` (the JSON of :class:`SignedCheckpoint`); :class:`CheckpointError`."""
    try:
        return SignedCheckpoint.model_validate_json(data)
    except ValidationError as exc:
        raise CheckpointError(f"not a signed checkpoint: {_first_error(exc, 'checkpoint')}") from exc


def parse_inclusion_proof(data: bytes | str) -> InclusionProof:
    try:
        return InclusionProof.model_validate_json(data)
    except ValidationError as exc:
        raise ProofError(f"not an inclusion proof: {_first_error(exc, 'proof')}") from exc


def _first_error(exc: ValidationError, whole: str) -> str:
    """``FIELD: why`` of the first error (``whole`` names the document when it is the field)."""
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or whole}: {first['msg']}"
