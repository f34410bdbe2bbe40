"""The evidence manifest: the one definition of the package contract, imported by edge and service.

What this module owns (and nothing else in NCE may redefine):

- the manifest model (:class:`Manifest`, pydantic v2, ``extra="forbid"``, versioned by
  ``schema_version``) and its JSON Schema (``docs/evidence-manifest.schema.json``);
- the canonical JSON form (:func:`canonical_json`, RFC 8785 / JCS);
- Ed25519 keys (generate, save, load, fingerprint), signing (:func:`sign_manifest`) and
  verification (:func:`verify_signature`, :func:`verify_files`, :func:`verify_package_dir`,
  :func:`verify_chain`);
- the safe file-name rule (:func:`is_safe_name`) for package files and uploaded parts.

It imports only the standard library, pydantic and cryptography (no numpy, OpenCV, FastAPI).

Signing, exactly
----------------
1. Take the manifest as a JSON object (``manifest.json`` parsed, or ``Manifest.model_dump(mode="json")``).
2. Remove its top-level ``"signature"`` member (the signature block).
3. Serialise the rest with RFC 8785 (JCS): object members sorted by their UTF-16 code units, no
   whitespace, strings with only ``"``, ``\\`` and control characters escaped (``\\b \\t \\n \\f \\r``
   or ``\\u00xx``), numbers as ECMAScript ``Number.prototype.toString`` writes them, UTF-8.
4. Ed25519-sign those bytes. The signature block is
   ``{"algorithm": "Ed25519", "public_key": base64(raw 32-byte public key),
   "key_fingerprint": hex(sha256(raw public key)), "signature": base64(64-byte signature)}``.

A manifest is accepted only in *normal form*: parsing it into :class:`Manifest` and dumping it
again must give the same canonical bytes (every field present, nothing coerced), so that the
model and the bytes that were signed can never say different things.

``manifest_hash(m)`` is the hex SHA-256 of the canonical form of the whole manifest, signature block
included; it is the next manifest's ``prev_manifest_hash`` (per device; the first one has
:data:`GENESIS_HASH`, 64 zeros).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from nce.errors import NceError

__all__ = [
    "GENESIS_HASH",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "VIOLATIONS",
    "CameraRef",
    "ChainState",
    "DerivedFrom",
    "DetectionRecord",
    "EventInfo",
    "FileEntry",
    "FileRole",
    "KeyUsed",
    "LocationRef",
    "Manifest",
    "ManifestError",
    "ModelRef",
    "OcrLine",
    "OcrResult",
    "PackageKind",
    "Problem",
    "ProblemCode",
    "RuleRef",
    "Signature",
    "SignatureInvalid",
    "SiteRef",
    "SoftwareRef",
    "Still",
    "StillMoment",
    "TrackPoint",
    "VerifyReport",
    "Violation",
    "ZoneRef",
    "canonical_json",
    "check_safe_name",
    "generate_private_key",
    "is_safe_name",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "manifest_hash",
    "manifest_json_schema",
    "manifest_schema_text",
    "manifests_in",
    "parse_manifest",
    "public_key_b64",
    "save_private_key",
    "save_public_key",
    "sha256_hex",
    "sign_manifest",
    "signing_payload",
    "utc_ms",
    "verify_chain",
    "verify_files",
    "verify_package_dir",
    "verify_signature",
]

SCHEMA_VERSION: Literal[1] = 1
MANIFEST_NAME = "manifest.json"
GENESIS_HASH = "0" * 64


class ManifestError(NceError):
    """A manifest, key or package that cannot be used (bad JSON, not normal form, bad key file)."""


class SignatureInvalid(ManifestError):
    """The signature does not verify (tampered manifest, or signed by another key)."""


# ---------------------------------------------------------------------------------------------
# Canonical JSON (RFC 8785)

_MAX_SAFE_INT = 2**53 - 1


def _es_number(value: float) -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(value):
        raise ManifestError(f"canonical JSON cannot hold {value!r} (NaN and infinities are not JSON)")
    if value == 0.0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    # repr() is the shortest round-trip form, as ECMAScript requires; take its digits and exponent
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # position of the decimal point relative to the first significant digit
    lead_zeros = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    n = len(int_part) - lead_zeros + exp
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        e_text = f"e+{e}" if e >= 0 else f"e-{-e}"
        out = (digits if k == 1 else digits[0] + "." + digits[1:]) + e_text
    return sign + out


def _es_string(value: str) -> str:
    for ch in value:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ManifestError(f"canonical JSON cannot hold a lone surrogate in {value!r}")
    # json.dumps escapes exactly ", \, \b \f \n \r \t and other controls as \u00xx (lowercase)
    return json.dumps(value, ensure_ascii=False)


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _canon(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ManifestError(f"canonical JSON cannot hold the integer {value} exactly (beyond 2^53)")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_es_number(value))
    elif isinstance(value, str):
        out.append(_es_string(value))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ManifestError(f"canonical JSON object keys must be strings, got {key!r}")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(_es_string(key))
            out.append(":")
            _canon(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _canon(item, out)
        out.append("]")
    else:
        raise ManifestError(f"canonical JSON cannot hold a {type(value).__name__}: {value!r}")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical form of a JSON value (dict, list, str, int, float, bool, None)."""
    out: list[str] = []
    _canon(value, out)
    return "".join(out).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Safe names

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_safe_name(name: str) -> bool:
    """A file name fit for a package or an upload part: 1-128 of ``A-Z a-z 0-9 . _ -``, starting
    with a letter or digit, no ``..``, no path separators (so it can never leave its folder)."""
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def check_safe_name(name: str) -> str:
    if not is_safe_name(name):
        raise ValueError(
            f"expected a file name of 1-128 letters, digits, '.', '_' or '-' (starting with a letter "
            f"or digit, no '..', no path separators), got {name!r}"
        )
    return name


def _check_file_name(name: str) -> str:
    check_safe_name(name)
    if name == MANIFEST_NAME:
        raise ValueError(f"{MANIFEST_NAME!r} is reserved for the manifest itself")
    return name


_UTC_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _check_utc_ms(value: str) -> str:
    if not _UTC_MS.match(value):
        raise ValueError(f"expected UTC time with milliseconds like 2026-11-26T08:00:00.123Z, got {value!r}")
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not a valid time: {value!r}") from exc
    return value


def utc_ms(t: dt.datetime) -> str:
    """A datetime as the manifest writes times: UTC ISO 8601 with milliseconds and ``Z``."""
    if t.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {t!r}")
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


SafeName = Annotated[str, AfterValidator(_check_file_name)]
PackageId = Annotated[str, AfterValidator(check_safe_name)]
UtcMs = Annotated[
    str,
    AfterValidator(_check_utc_ms),
    Field(description="UTC time, ISO 8601 with milliseconds: 2026-11-26T08:00:00.123Z"),
]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lowercase hex SHA-256")]
Box = tuple[float, float, float, float]
Point = tuple[float, float]

Violation = Literal["out_of_shop_trading", "street_vending", "piled_goods", "illegal_ad", "exposed_garbage"]
VIOLATIONS: tuple[str, ...] = (
    "out_of_shop_trading",
    "street_vending",
    "piled_goods",
    "illegal_ad",
    "exposed_garbage",
)
PackageKind = Literal["violation", "cleared", "public_copy"]
FileRole = Literal["still_raw", "still_annotated", "crop", "clip", "other"]
StillMoment = Literal["first_seen", "between", "confirmed", "cleared", "later"]


# ---------------------------------------------------------------------------------------------
# The model


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocationRef(_M):
    lat: float | None = None
    lon: float | None = None
    address: str | None = None


class SiteRef(_M):
    id: str
    name: str
    timezone: str = Field(description="IANA time zone of the site (times in the manifest are UTC)")


class CameraRef(_M):
    id: str
    name: str
    location: LocationRef | None = None


class ZoneRef(_M):
    id: str
    kind: str = Field(description="shop_frontage | sidewalk | road | no_ads")
    name: str | None = None
    polygon: list[Point] = Field(description="points as fractions of the frame (0..1)")


class RuleRef(_M):
    """The rule's parameters when the hit was decided."""

    classes: list[str]
    zone_kinds: list[str]
    min_dwell_s: float
    grace_s: float
    cooldown_s: float
    min_score: float
    min_area_px: float
    active_hours: str | None = Field(description='"HH:MM-HH:MM" local time, or null for all day')


class EventInfo(_M):
    hit_id: str
    event: Literal["opened", "confirmed", "still_present", "cleared"] = Field(
        description="the hit event that froze this package"
    )
    ts: UtcMs = Field(description="frame time of that event")
    first_seen: UtcMs
    confirmed_at: UtcMs | None = Field(description="when the hit confirmed (null if it never did)")
    last_seen: UtcMs
    cleared_at: UtcMs | None
    dwell_s: float
    sightings: int
    track_id: int | None
    label: str = Field(description="detector class of the object")
    score: float
    box: Box = Field(description="x1, y1, x2, y2 in frame pixels, at ts")


class Still(_M):
    moment: StillMoment
    frame_utc: UtcMs
    frame_index: int
    raw: SafeName = Field(description="file name of the raw frame (never drawn on)")
    annotated: SafeName | None = Field(description="file name of the annotated copy")
    box: Box | None = Field(description="the object's box in this frame, if seen")


class ModelRef(_M):
    name: str
    sha256: Sha256Hex = Field(description="SHA-256 of the model file")
    classes: list[str]
    conf: float
    iou: float
    providers: list[str] = Field(description="ONNX Runtime execution providers in use")
    imgsz: tuple[int, int] | None = Field(description="input height, width")


class SoftwareRef(_M):
    name: str = "nce"
    version: str


class DetectionRecord(_M):
    label: str
    score: float
    box: Box
    track_id: int | None


class TrackPoint(_M):
    t: UtcMs
    box: Box
    score: float


class OcrLine(_M):
    text: str
    score: float
    box: list[Point]


class OcrResult(_M):
    engine: str | None = Field(description="e.g. rapidocr-onnxruntime 1.3.24; null when not run")
    lines: list[OcrLine]
    text: str = Field(description="all lines joined by newlines")
    phones: list[str] = Field(description="phone numbers found in the text, digits only")
    note: str | None


class FileEntry(_M):
    name: SafeName
    role: FileRole
    sha256: Sha256Hex
    size: int = Field(ge=0)
    mime: str


class DerivedFrom(_M):
    """For a public copy: the original it was made from."""

    package_id: str
    manifest_hash: Sha256Hex
    method: str = Field(description="what was changed, e.g. faces and plates blurred")


class Signature(_M):
    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    key_fingerprint: Sha256Hex = Field(description="hex SHA-256 of the raw public key")
    signature: str = Field(description="base64 of the 64-byte signature over the signing payload")


class Manifest(_M):
    """One evidence package's manifest (``manifest.json``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    package_id: PackageId
    kind: PackageKind
    device_id: str
    sequence: int = Field(ge=1, description="per device, 1, 2, 3, … without gaps")
    prev_manifest_hash: Sha256Hex = Field(
        description="manifest_hash of this device's previous manifest; 64 zeros for the first"
    )
    created_at: UtcMs
    site: SiteRef
    camera: CameraRef
    zone: ZoneRef
    shop_id: str | None
    violation: Violation
    rule: RuleRef | None
    event: EventInfo
    stills: list[Still]
    model: ModelRef | None
    software: SoftwareRef
    detections: list[DetectionRecord] = Field(description="all detections of the deciding sample")
    track: list[TrackPoint] = Field(description="the object's track history, oldest first")
    ocr: OcrResult | None
    notes: list[str]
    derived_from: DerivedFrom | None
    files: list[FileEntry]
    signature: Signature | None = Field(
        description="null while being built, and for a public copy made without a key"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        names = [f.name for f in self.files]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"files: duplicate names {dup}")
        for s in self.stills:
            for ref in (s.raw, s.annotated):
                if ref is not None and ref not in names:
                    raise ValueError(f"stills: {ref!r} is not among files")
        if (self.kind == "public_copy") != (self.derived_from is not None):
            raise ValueError("derived_from is set exactly when kind is public_copy")
        return self

    def file(self, name: str) -> FileEntry | None:
        return next((f for f in self.files if f.name == name), None)

    def to_json_bytes(self) -> bytes:
        """The bytes of ``manifest.json``: the canonical form (so the file hashes reproducibly)."""
        return canonical_json(self.model_dump(mode="json"))


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Manifest` (written to docs/evidence-manifest.schema.json)."""
    schema = Manifest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://nce.example/schemas/evidence-manifest-v1.json"
    return schema


def manifest_schema_text() -> str:
    """The exact text of docs/evidence-manifest.schema.json (``nce evidence schema`` prints it)."""
    return json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def parse_manifest(data: bytes | str | Mapping[str, Any]) -> Manifest:
    """Parse and validate a manifest (bytes, text or a parsed JSON object), in normal form only.

    Raises :class:`ManifestError` with every validation problem on one line.
    """
    if isinstance(data, bytes | str):
        try:
            raw = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"manifest is not valid JSON: {exc}") from exc
    else:
        raw = data
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest must be a JSON object, got {type(raw).__name__}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ManifestError(
            f"unsupported manifest schema_version {version!r} (this NCE reads {SCHEMA_VERSION})"
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "manifest"
            problems.append(f"{loc}: {err['msg']}")
        raise ManifestError("manifest is invalid: " + "; ".join(problems)) from exc
    dumped = manifest.model_dump(mode="json")
    if canonical_json(dumped) != canonical_json(raw):
        where = ", ".join(_differences(dumped, raw)[:5]) or "?"
        raise ManifestError(
            f"manifest is not in normal form at {where} (a field is missing or holds a value of another type)"
        )
    return manifest


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two JSON values differ (for the normal-form error)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}" if path else k
            out += [sub] if (k in a) != (k in b) else _differences(a[k], b[k], sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}.{i}")
        ]
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        return [path or "manifest"]
    return [] if canonical_json(a) == canonical_json(b) else [path or "manifest"]


# ---------------------------------------------------------------------------------------------
# Keys


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


# ---------------------------------------------------------------------------------------------
# Signing and hashing


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


# ---------------------------------------------------------------------------------------------
# Verification reports

ProblemCode = Literal[
    "manifest_invalid",
    "unsigned",
    "signature_invalid",
    "wrong_key",
    "missing_file",
    "extra_file",
    "hash_mismatch",
    "size_mismatch",
    "unsafe_name",
    "chain_gap",
    "chain_break",
    "chain_duplicate",
    "chain_start",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a package or chain; ``code`` is stable, ``message`` is for people."""

    code: ProblemCode
    message: str
    file: str | None = None
    sequence: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class VerifyReport:
    path: str
    manifest: Manifest | None = None
    manifest_hash: str | None = None
    key_used: KeyUsed | None = None
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def codes(self) -> list[str]:
        return [p.code for p in self.problems]


def verify_files(manifest: Manifest, files: Mapping[str, bytes]) -> list[Problem]:
    """Check uploaded or read file contents against the manifest: every problem, none raised.

    ``files`` maps file name → bytes (the manifest itself not included).
    """
    problems: list[Problem] = []
    for name in files:
        if not is_safe_name(name):
            problems.append(Problem("unsafe_name", f"unsafe file name {name!r}", file=name))
    listed = {f.name: f for f in manifest.files}
    for name, entry in listed.items():
        if name not in files:
            problems.append(Problem("missing_file", f"missing file {name}", file=name))
            continue
        data = files[name]
        if len(data) != entry.size:
            problems.append(
                Problem(
                    "size_mismatch", f"file {name} size {len(data)} != {entry.size} in manifest", file=name
                )
            )
        if sha256_hex(data) != entry.sha256:
            problems.append(Problem("hash_mismatch", f"file {name} hash mismatch", file=name))
    for name in sorted(set(files) - set(listed)):
        if is_safe_name(name):
            problems.append(Problem("extra_file", f"extra file {name} (not in the manifest)", file=name))
    return problems


def _file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def verify_package_dir(path: str | Path, pubkey: Ed25519PublicKey | None = None) -> VerifyReport:
    """Verify one package folder: manifest valid, signature, every file re-hashed, missing and extra
    files. Never raises for what it finds: every problem goes into the report."""
    root = Path(path)
    report = VerifyReport(path=str(root))
    mpath = root / MANIFEST_NAME
    try:
        raw = mpath.read_bytes()
    except OSError as exc:
        report.problems.append(Problem("manifest_invalid", f"{mpath}: cannot read: {exc.strerror}"))
        return report
    try:
        manifest = parse_manifest(raw)
    except ManifestError as exc:
        report.problems.append(Problem("manifest_invalid", str(exc)))
        return report
    report.manifest = manifest
    report.manifest_hash = manifest_hash(manifest)
    if manifest.signature is None:
        if pubkey is not None or manifest.kind != "public_copy":
            report.problems.append(Problem("unsigned", "the manifest is not signed"))
    else:
        try:
            report.key_used = verify_signature(manifest, pubkey)
        except SignatureInvalid as exc:
            code: ProblemCode = (
                "wrong_key" if str(exc).startswith("signed by another key") else "signature_invalid"
            )
            report.problems.append(Problem(code, str(exc)))
    on_disk = {p.name: p for p in root.iterdir() if p.name != MANIFEST_NAME}
    for entry in manifest.files:
        p = on_disk.get(entry.name)
        if p is None or not p.is_file():
            report.problems.append(Problem("missing_file", f"missing file {entry.name}", file=entry.name))
            continue
        digest, size = _file_digest(p)
        report.files_checked += 1
        if size != entry.size:
            report.problems.append(
                Problem(
                    "size_mismatch",
                    f"file {entry.name} size {size} != {entry.size} in manifest",
                    file=entry.name,
                )
            )
        if digest != entry.sha256:
            report.problems.append(
                Problem("hash_mismatch", f"file {entry.name} hash mismatch", file=entry.name)
            )
    listed = {f.name for f in manifest.files}
    for name in sorted(set(on_disk) - listed):
        report.problems.append(Problem("extra_file", f"extra file {name} (not in the manifest)", file=name))
    return report


def verify_chain(manifests: Iterable[Manifest], *, from_genesis: bool = False) -> list[Problem]:
    """Check per-device continuity: sequence numbers without gaps or repeats and each
    ``prev_manifest_hash`` equal to the previous manifest's hash. Public copies are skipped.

    With ``from_genesis`` each device's chain must start at sequence 1 with :data:`GENESIS_HASH`.
    """
    problems: list[Problem] = []
    by_device: dict[str, list[Manifest]] = {}
    for m in manifests:
        if m.kind != "public_copy":
            by_device.setdefault(m.device_id, []).append(m)
    for device, chain in sorted(by_device.items()):
        chain.sort(key=lambda m: m.sequence)
        first = chain[0]
        if from_genesis and (first.sequence != 1 or first.prev_manifest_hash != GENESIS_HASH):
            problems.append(
                Problem(
                    "chain_start",
                    f"device {device}: chain starts at seq {first.sequence}, not at 1 from genesis",
                    sequence=first.sequence,
                )
            )
        if first.sequence == 1 and first.prev_manifest_hash != GENESIS_HASH:
            problems.append(
                Problem("chain_break", f"device {device}: seq 1 does not start from genesis", sequence=1)
            )
        for prev, cur in itertools.pairwise(chain):
            if cur.sequence == prev.sequence:
                problems.append(
                    Problem(
                        "chain_duplicate",
                        f"device {device}: duplicate seq {cur.sequence} "
                        f"({prev.package_id}, {cur.package_id})",
                        sequence=cur.sequence,
                    )
                )
                continue
            if cur.sequence != prev.sequence + 1:
                missing = (
                    f"{prev.sequence + 1}"
                    if cur.sequence == prev.sequence + 2
                    else f"{prev.sequence + 1}..{cur.sequence - 1}"
                )
                problems.append(
                    Problem(
                        "chain_gap",
                        f"device {device}: chain gap at seq {missing} (before {cur.package_id})",
                        sequence=prev.sequence + 1,
                    )
                )
            elif cur.prev_manifest_hash != manifest_hash(prev):
                problems.append(
                    Problem(
                        "chain_break",
                        f"device {device}: seq {cur.sequence} prev_manifest_hash does not match "
                        f"the hash of seq {prev.sequence}",
                        sequence=cur.sequence,
                    )
                )
    return problems


@dataclass
class ChainState:
    """A device's chain position (the packager persists it): the last sequence number and hash."""

    device_id: str
    last_sequence: int = 0
    last_hash: str = GENESIS_HASH

    def to_json(self) -> bytes:
        return canonical_json(
            {"device_id": self.device_id, "last_sequence": self.last_sequence, "last_hash": self.last_hash}
        )

    @classmethod
    def from_json(cls, data: bytes) -> ChainState:
        try:
            obj = json.loads(data)
            return cls(str(obj["device_id"]), int(obj["last_sequence"]), str(obj["last_hash"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"chain state is unreadable: {exc}") from exc

    def advance(self, manifest: Manifest) -> None:
        self.last_sequence = manifest.sequence
        self.last_hash = manifest_hash(manifest)


def manifests_in(folder: str | Path) -> Sequence[Path]:
    """Package folders (with a manifest.json) directly under ``folder``, sorted by name."""
    root = Path(folder)
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST_NAME).is_file())
