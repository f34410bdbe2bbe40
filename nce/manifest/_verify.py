"""Verification of packages: stable :data:`ProblemCode` values, :class:`Problem`,
:class:`VerifyReport`, uploaded files (:func:`verify_files`) and package folders
(:func:`verify_package_dir`, :func:`manifests_in`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nce.hashing import sha256_file
from nce.manifest._canonical import sha256_hex
from nce.manifest._errors import ManifestError, SignatureInvalid
from nce.manifest._model import MANIFEST_NAME, Manifest, is_safe_name
from nce.manifest._parse import parse_manifest
from nce.manifest._signing import KeyUsed, manifest_hash, verify_signature

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
        digest, size = sha256_file(p), p.stat().st_size
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


def manifests_in(folder: str | Path) -> Sequence[Path]:
    """Package folders (with a manifest.json) directly under ``folder``, sorted by name."""
    root = Path(folder)
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST_NAME).is_file())
