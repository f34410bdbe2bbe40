"""The evidence manifest: the one definition of the package contract, imported by edge and service.

What this package owns (and nothing else in NCE may redefine):

- the manifest model (:class:`Manifest`, pydantic v2, ``extra="forbid"``, versioned by
  ``schema_version``) and its JSON Schema (``docs/evidence-manifest.schema.json``);
- the canonical JSON form (:func:`canonical_json`, RFC 8785 / JCS);
- Ed25519 keys (generate, save, load, fingerprint), signing (:func:`sign_manifest`) and
  verification (:func:`verify_signature`, :func:`verify_files`, :func:`verify_package_dir`,
  :func:`verify_chain`);
- the safe file-name rule (:func:`is_safe_name`) for package files and uploaded parts.

It imports only the standard library, pydantic and cryptography (no numpy, OpenCV, FastAPI).
Import from ``nce.manifest`` only: its private modules, each named for what it owns, are
``_errors`` (the exceptions), ``_canonical`` (RFC 8785), ``_model`` (the model, safe names, times,
parsing, JSON Schema), ``_keys`` (Ed25519 key files), ``_signing`` (signing payload, hash, sign,
check a signature), ``_verify`` (package verification and its problem codes) and ``_chain``
(per-device chain continuity and chain state).

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

from nce.manifest._canonical import (
    canonical_json,
    sha256_hex,
)
from nce.manifest._chain import (
    ChainState,
    verify_chain,
)
from nce.manifest._errors import (
    ManifestError,
    SignatureInvalid,
)
from nce.manifest._keys import (
    generate_private_key,
    key_fingerprint,
    load_private_key,
    load_public_key,
    public_key_b64,
    save_private_key,
    save_public_key,
)
from nce.manifest._model import (
    GENESIS_HASH,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    CameraRef,
    ClipInfo,
    DerivedFrom,
    DetectionRecord,
    EventInfo,
    FileEntry,
    FileRole,
    HitParts,
    LocationRef,
    Manifest,
    ModelRef,
    NearMiss,
    OcrLine,
    OcrResult,
    PackageKind,
    RuleRef,
    SampleInfo,
    Signature,
    SiteRef,
    SoftwareRef,
    Still,
    StillMoment,
    TrackPoint,
    ZoneRef,
    check_safe_name,
    is_safe_name,
)
from nce.manifest._parse import manifest_json_schema, manifest_schema_text, parse_manifest
from nce.manifest._signing import (
    KeyUsed,
    manifest_hash,
    sign_manifest,
    signing_payload,
    verify_signature,
)
from nce.manifest._verify import (
    Problem,
    ProblemCode,
    VerifyReport,
    manifests_in,
    verify_files,
    verify_package_dir,
)
from nce.times import utc_ms  # the manifest's time format
from nce.vocabulary import VIOLATIONS, Violation

__all__ = [
    "GENESIS_HASH",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "VIOLATIONS",
    "CameraRef",
    "ChainState",
    "ClipInfo",
    "DerivedFrom",
    "DetectionRecord",
    "EventInfo",
    "FileEntry",
    "FileRole",
    "HitParts",
    "KeyUsed",
    "LocationRef",
    "Manifest",
    "ManifestError",
    "ModelRef",
    "NearMiss",
    "OcrLine",
    "OcrResult",
    "PackageKind",
    "Problem",
    "ProblemCode",
    "RuleRef",
    "SampleInfo",
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
