"""Model releases: the one definition of the signed release record, imported by the writer
(``nce model release``), the edge (``model.release_pubkey``) and the service (``POST /api/v1/models``).

A release is a folder::

    model.onnx    the model
    card.md       its model card
    release.json  {"record": ReleaseRecord, "signature": ReleaseSignature}

Signing, exactly: the Ed25519 signature is over the RFC 8785 canonical JSON
(:func:`nce.manifest.canonical_json`) of ``record``. A record is accepted only in normal form: parsed
into :class:`ReleaseRecord` and dumped again it gives the same canonical bytes, so the model and the
signed bytes never say different things. :func:`verify_release` checks the signature against a given
(trusted) key, then the model's and card's SHA-256 and size against the record.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from nce.errors import NceError
from nce.hashing import sha256_file
from nce.manifest import (
    ManifestError,
    canonical_json,
    check_safe_name,
    key_fingerprint,
    load_public_key,
    public_key_b64,
)

RELEASE_FORMAT: Final = "nce-model-release/1"
RELEASE_FILE = "release.json"
MODEL_FILE = "model.onnx"
CARD_FILE = "card.md"
RELEASE_ID_MAX = 128
MAX_RECORD_BYTES = 256 * 1024

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ReleaseId = Annotated[str, Field(min_length=1, max_length=RELEASE_ID_MAX), AfterValidator(check_safe_name)]


class ReleaseError(NceError):
    """A release that cannot be used: unreadable, malformed, not signed by the trusted key, or whose
    files differ from the signed record. ``str()`` is one line naming the release."""


class ReleaseGate(BaseModel):
    """The evaluation gate's outcome (``nce model compare``): ``forced`` when a failed gate was
    overridden (``--force``), with the reason given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Literal["pass", "fail"]
    forced: bool = False
    reason: str | None = Field(default=None, max_length=1000)


class ReleaseRecord(BaseModel):
    """What a release says about its model; every field is signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["nce-model-release/1"] = RELEASE_FORMAT
    release_id: ReleaseId
    model_sha256: Sha256Hex
    model_bytes: int = Field(gt=0)
    classes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=1000)
    input_size: tuple[int, int] = Field(description="[height, width] the model expects")
    card_sha256: Sha256Hex
    metrics: dict[str, float] = Field(default_factory=dict, description="the gate's numbers, if any")
    gate: ReleaseGate | None = None
    created_at: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    key_fingerprint: Sha256Hex


class ReleaseSignature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    signature: str = Field(description="base64 of the 64-byte signature over canonical(record)")


class SignedRelease(BaseModel):
    """``release.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: ReleaseRecord
    signature: ReleaseSignature

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def record_bytes(record: ReleaseRecord | dict[str, Any]) -> bytes:
    """The bytes that are signed: the canonical JSON of the record."""
    data = record.model_dump(mode="json") if isinstance(record, ReleaseRecord) else record
    return canonical_json(data)


def sign_release(record: ReleaseRecord, key: Ed25519PrivateKey) -> SignedRelease:
    pub = key.public_key()
    if record.key_fingerprint != key_fingerprint(pub):
        raise ReleaseError(f"release {record.release_id}: key_fingerprint does not name the signing key")
    sig = key.sign(record_bytes(record))
    return SignedRelease(
        record=record,
        signature=ReleaseSignature(public_key=public_key_b64(pub), signature=base64.b64encode(sig).decode()),
    )


def parse_signed_release(data: bytes, where: str = RELEASE_FILE) -> SignedRelease:
    """``release.json``'s bytes as a :class:`SignedRelease` in normal form (signature not checked)."""
    if len(data) > MAX_RECORD_BYTES:
        raise ReleaseError(f"{where}: larger than {MAX_RECORD_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReleaseError(f"{where}: not JSON ({exc})") from None
    try:
        signed = SignedRelease.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "release"
        raise ReleaseError(f"{where}: not a release record: {loc}: {first['msg']}") from None
    try:
        same = record_bytes(raw["record"]) == record_bytes(signed.record)
    except ManifestError as exc:
        raise ReleaseError(f"{where}: {exc}") from None
    if not same:
        raise ReleaseError(f"{where}: the record is not in normal form (fields coerced or missing)")
    return signed


def verify_signed(signed: SignedRelease, pubkey: Ed25519PublicKey) -> ReleaseRecord:
    """The record, if ``signed`` is signed by ``pubkey``; else :class:`ReleaseError`."""
    rid = signed.record.release_id
    want = key_fingerprint(pubkey)
    if signed.record.key_fingerprint != want:
        raise ReleaseError(
            f"release {rid}: signed by another key (sha256 {signed.record.key_fingerprint[:16]}…, "
            f"trusted sha256 {want[:16]}…)"
        )
    try:
        carried = base64.b64decode(signed.signature.public_key, validate=True)
        sig = base64.b64decode(signed.signature.signature, validate=True)
    except (binascii.Error, ValueError):
        raise ReleaseError(f"release {rid}: the signature block is malformed") from None
    if carried != base64.b64decode(public_key_b64(pubkey)):
        raise ReleaseError(f"release {rid}: the signature block carries another public key")
    try:
        pubkey.verify(sig, record_bytes(signed.record))
    except InvalidSignature:
        raise ReleaseError(f"release {rid}: signature invalid (record or signature altered)") from None
    return signed.record


def check_files(record: ReleaseRecord, model: Path, card: Path | None) -> None:
    """The model (and card, if given) are the ones the record signs; else :class:`ReleaseError`."""
    rid = record.release_id
    try:
        size = model.stat().st_size
        digest = sha256_file(model)
    except OSError as exc:
        raise ReleaseError(f"release {rid}: cannot read {model}: {exc.strerror}") from None
    if digest != record.model_sha256 or size != record.model_bytes:
        raise ReleaseError(
            f"release {rid}: {model.name} sha256 {digest[:16]}… differs from the signed {record.model_sha256[:16]}…"
        )
    if card is not None:
        try:
            card_digest = sha256_file(card)
        except OSError as exc:
            raise ReleaseError(f"release {rid}: cannot read {card}: {exc.strerror}") from None
        if card_digest != record.card_sha256:
            raise ReleaseError(f"release {rid}: {card.name} differs from the signed card (sha256 mismatch)")


def read_release(folder: str | Path) -> SignedRelease:
    """``folder/release.json``, parsed (signature not checked)."""
    path = Path(folder) / RELEASE_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReleaseError(f"{path}: cannot read the release record: {exc.strerror}") from None
    return parse_signed_release(data, str(path))


def verify_release(folder: str | Path, pubkey: Ed25519PublicKey) -> ReleaseRecord:
    """Check a release folder against a trusted key: the signature, then ``model.onnx`` and
    ``card.md`` against the signed hashes. Returns the record; raises :class:`ReleaseError`."""
    p = Path(folder)
    record = verify_signed(read_release(p), pubkey)
    check_files(record, p / MODEL_FILE, p / CARD_FILE)
    return record


def load_release_pubkey(path: str | Path) -> Ed25519PublicKey:
    """A release public key (PEM, base64 or raw); a bad file is a :class:`ReleaseError`."""
    try:
        return load_public_key(Path(path))
    except ManifestError as exc:
        raise ReleaseError(str(exc)) from None


__all__ = [
    "CARD_FILE",
    "MAX_RECORD_BYTES",
    "MODEL_FILE",
    "RELEASE_FILE",
    "RELEASE_FORMAT",
    "RELEASE_ID_MAX",
    "ReleaseError",
    "ReleaseGate",
    "ReleaseRecord",
    "ReleaseSignature",
    "SignedRelease",
    "check_files",
    "load_release_pubkey",
    "parse_signed_release",
    "read_release",
    "record_bytes",
    "sign_release",
    "verify_release",
    "verify_signed",
]
