"""Verify a case export offline, from the zip (or its extracted folder) alone.

What :func:`verify_export` checks (layout: :mod:`nce.case_export`), each failure one line:

1. the zip names no member twice and nothing outside the layout;
2. the service key (``transparency/service.pub``) is the pinned one, when a fingerprint is given;
   the checkpoint's signature verifies against it;
3. every device key in ``devices/`` has the fingerprint ``devices/index.json`` names;
4. every package folder: the manifest is valid and signed by its device's key from the export, it
   sits in the folder its device and sequence name, every file listed is there with its size and
   SHA-256 and nothing else is; its inclusion proof is for this manifest and leads to the signed
   checkpoint's root;
5. the last entry of ``ledger.json`` is this export's (``case_exported``), hashes to itself, and is
   the ledger head the checkpoint signs; its member list (path → SHA-256) is exactly the package
   files in the export, and its device fingerprints are the index's;
6. per device, where each package stands in its chain: the sequence, and whether the previous
   sequence is in the export and links (``prev_manifest_hash``). A gap is not a problem (a case
   holds only some of a device's packages); a broken link between two packages it holds is.

Never needs another case's evidence, the service, or the network.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from nce.case_export import (
    CASE_JSON,
    CHECKPOINT,
    DEVICES_INDEX,
    EXPORT_ACTION,
    INCLUSION,
    LEDGER_JSON,
    PACKAGES,
    PUBLIC,
    README,
    SERVICE_KEY,
    DevicesIndex,
    package_dir,
    proof_path,
)
from nce.errors import NceError
from nce.ledger_chain import entry_problem
from nce.manifest import (
    GENESIS_HASH,
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    SignatureInvalid,
    key_fingerprint,
    load_public_key,
    manifest_hash,
    parse_manifest,
    verify_signature,
)
from nce.merkle import ProofError
from nce.transparency import (
    CheckpointError,
    SignedCheckpoint,
    parse_inclusion_proof,
    parse_signed_checkpoint,
    verify_checkpoint,
)


class ExportUnreadable(NceError):
    """The path is not a case export at all (no zip, no folder, or not one of ours)."""


@dataclass
class PackageResult:
    folder: str
    manifest: Manifest | None = None
    manifest_hash: str | None = None
    files_checked: int = 0
    leaf_index: int | None = None
    chain: str = ""


@dataclass
class ExportReport:
    path: str
    problems: list[str] = field(default_factory=list)
    packages: list[PackageResult] = field(default_factory=list)
    checkpoint: SignedCheckpoint | None = None
    service_key_fingerprint: str | None = None
    pinned: bool = False
    devices: dict[str, str] = field(default_factory=dict)  # device_id -> key fingerprint
    ledger_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def manifests(self) -> list[Manifest]:
        return [p.manifest for p in self.packages if p.manifest is not None]


# ---------------------------------------------------------------------------------------------
# Reading a zip or a folder the same way


class _Source:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._root: Path | None = None
        self.duplicates: list[str] = []
        self.unsafe: list[str] = []
        if path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ExportUnreadable(f"{path}: not a zip file: {exc}") from exc
            seen: set[str] = set()
            names = []
            for info in self._zip.infolist():
                if info.is_dir():
                    continue
                if info.filename in seen:
                    self.duplicates.append(info.filename)
                seen.add(info.filename)
                names.append(info.filename)
            self.names = sorted(set(names))
        elif path.is_dir():
            self._root = path
            self.names = sorted(
                p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() or p.is_symlink()
            )
        else:
            raise ExportUnreadable(f"{path}: no such file or folder")
        for name in self.names:
            pure = PurePosixPath(name)
            if pure.is_absolute() or ".." in pure.parts or "\\" in name:
                self.unsafe.append(name)
        self._set = set(self.names)
        self._digests: dict[str, tuple[str, int]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._set

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        assert self._root is not None
        p = self._root / name
        if p.is_symlink():
            raise ExportUnreadable(f"{name}: a symbolic link, not a file")
        return p.read_bytes()

    def digest(self, name: str) -> tuple[str, int]:
        """SHA-256 and size of a member (streamed; remembered, so each file is read once)."""
        if name not in self._digests:
            h = hashlib.sha256()
            size = 0
            for chunk in self._chunks(name):
                h.update(chunk)
                size += len(chunk)
            self._digests[name] = (h.hexdigest(), size)
        return self._digests[name]

    def _chunks(self, name: str) -> Iterator[bytes]:
        if self._zip is not None:
            with self._zip.open(name) as f:
                yield from iter(lambda: f.read(1 << 20), b"")
            return
        assert self._root is not None
        p = self._root / name
        if p.is_symlink():
            raise ExportUnreadable(f"{name}: a symbolic link, not a file")
        with p.open("rb") as f:
            yield from iter(lambda: f.read(1 << 20), b"")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def is_export(path: Path) -> bool:
    """A zip file, or a folder holding ``transparency/checkpoint.json``."""
    if path.is_file():
        return zipfile.is_zipfile(path)
    return (path / CHECKPOINT).is_file()


# ---------------------------------------------------------------------------------------------
# The checks


def verify_export(path: str | Path, *, service_key_fingerprint: str | None = None) -> ExportReport:
    """Every check of the module doc; never raises for what it finds (see ``report.problems``).
    Raises :class:`ExportUnreadable` when ``path`` is not an export at all."""
    src = _Source(Path(path))
    report = ExportReport(path=str(path))
    try:
        _verify(src, report, service_key_fingerprint)
    finally:
        src.close()
    return report


def _verify(src: _Source, report: ExportReport, pin: str | None) -> None:
    problems = report.problems
    for name in src.duplicates:
        problems.append(f"{name}: the zip holds this member more than once (which one is evidence?)")
    for name in src.unsafe:
        problems.append(f"{name}: a member name that leaves the export's folder")
    if src.duplicates or src.unsafe:
        return
    missing = [n for n in (CHECKPOINT, SERVICE_KEY, DEVICES_INDEX, LEDGER_JSON, CASE_JSON) if n not in src]
    if missing:
        problems.append(f"not a complete case export: missing {', '.join(missing)}")
        return
    checkpoint = _checkpoint(src, report, pin)
    devices, key_files = _devices(src, report)
    folders = _package_folders(src, report, key_files)
    for folder, files in sorted(folders.items()):
        report.packages.append(_package(src, report, folder, files, devices, checkpoint))
    _ledger(src, report, checkpoint, folders)
    _chain_positions(report)


def _checkpoint(src: _Source, report: ExportReport, pin: str | None) -> SignedCheckpoint | None:
    try:
        service_key = load_public_key(src.read(SERVICE_KEY))
    except (ManifestError, ValueError) as exc:
        report.problems.append(f"{SERVICE_KEY}: {exc}")
        return None
    fp = key_fingerprint(service_key)
    report.service_key_fingerprint = fp
    if pin is not None:
        if fp != pin.strip().lower():
            report.problems.append(
                f"{SERVICE_KEY}: service key sha256 {fp} is not the pinned key sha256 {pin.strip().lower()}"
            )
            return None
        report.pinned = True
    try:
        signed = parse_signed_checkpoint(src.read(CHECKPOINT))
        verify_checkpoint(signed, service_key)
    except CheckpointError as exc:
        report.problems.append(f"{CHECKPOINT}: {exc}")
        return None
    report.checkpoint = signed
    return signed


def _devices(src: _Source, report: ExportReport) -> tuple[dict[str, Ed25519PublicKey], set[str]]:
    """The device keys whose fingerprints match the index, and every key file the index names."""
    try:
        index = DevicesIndex.model_validate_json(src.read(DEVICES_INDEX))
    except ValidationError as exc:
        report.problems.append(f"{DEVICES_INDEX}: unreadable: {exc.errors()[0]['msg']}")
        return {}, set()
    keys: dict[str, Ed25519PublicKey] = {}
    for device_id, ref in sorted(index.root.items()):
        if ref.key_file not in src:
            report.problems.append(
                f"{DEVICES_INDEX}: device {device_id}'s key file {ref.key_file} is missing"
            )
            continue
        try:
            key = load_public_key(src.read(ref.key_file))
        except (ManifestError, ValueError) as exc:
            report.problems.append(f"{ref.key_file}: {exc}")
            continue
        if key_fingerprint(key) != ref.fingerprint:
            report.problems.append(
                f"{ref.key_file}: key sha256 {key_fingerprint(key)} is not device {device_id}'s "
                f"fingerprint {ref.fingerprint} in {DEVICES_INDEX}"
            )
            continue
        keys[device_id] = key
        report.devices[device_id] = ref.fingerprint
    return keys, {ref.key_file for ref in index.root.values()}


def _package_folders(src: _Source, report: ExportReport, key_files: set[str]) -> dict[str, list[str]]:
    """``packages/X`` and ``public/X`` folders and their file names; every other member is checked
    against the layout here."""
    folders: dict[str, list[str]] = {}
    fixed = {README, CASE_JSON, LEDGER_JSON, DEVICES_INDEX, SERVICE_KEY, CHECKPOINT}
    proofs: set[str] = set()
    for name in src.names:
        parts = name.split("/")
        if name in fixed or name in key_files:
            continue
        if parts[0] in (PACKAGES, PUBLIC) and len(parts) == 3:
            folders.setdefault(f"{parts[0]}/{parts[1]}", []).append(parts[2])
        elif name.startswith(INCLUSION + "/") and name.endswith(".json"):
            proofs.add(name)
        elif parts[0] == "devices" and name.endswith(".pub"):
            report.problems.append(f"{name}: a device key that {DEVICES_INDEX} does not name")
        else:
            report.problems.append(f"{name}: not part of a case export")
    for name in sorted(proofs - {proof_path(f) for f in folders}):
        report.problems.append(f"{name}: an inclusion proof for a package folder the export does not hold")
    return folders


def _package(
    src: _Source,
    report: ExportReport,
    folder: str,
    files: list[str],
    devices: dict[str, Ed25519PublicKey],
    checkpoint: SignedCheckpoint | None,
) -> PackageResult:
    result = PackageResult(folder=folder)
    bad = report.problems
    if MANIFEST_NAME not in files:
        bad.append(f"{folder}: no {MANIFEST_NAME}")
        return result
    try:
        manifest = parse_manifest(src.read(f"{folder}/{MANIFEST_NAME}"))
    except ManifestError as exc:
        bad.append(f"{folder}: {exc}")
        return result
    m_hash = manifest_hash(manifest)
    result.manifest, result.manifest_hash = manifest, m_hash
    expected = package_dir(manifest, m_hash)
    if expected != folder:
        bad.append(
            f"{folder}: holds the manifest of {expected} (device {manifest.device_id} seq {manifest.sequence}): "
            "a manifest moved or swapped"
        )
    key = devices.get(manifest.device_id)
    if key is None:
        bad.append(f"{folder}: no enrolled key of device {manifest.device_id} in {DEVICES_INDEX}")
    elif manifest.signature is None:
        bad.append(f"{folder}: the manifest is not signed")
    else:
        try:
            verify_signature(manifest, key)
        except SignatureInvalid as exc:
            bad.append(f"{folder}: {exc} (device {manifest.device_id}'s enrolled key)")
    listed = {f.name: f for f in manifest.files}
    for name in sorted(set(files) - set(listed) - {MANIFEST_NAME}):
        bad.append(f"{folder}: extra file {name} (not in the manifest)")
    for name, entry in sorted(listed.items()):
        if name not in files:
            bad.append(f"{folder}: missing file {name}")
            continue
        digest, size = src.digest(f"{folder}/{name}")
        result.files_checked += 1
        if size != entry.size:
            bad.append(f"{folder}: file {name} size {size} != {entry.size} in the manifest")
        elif digest != entry.sha256:
            bad.append(f"{folder}: file {name} hash mismatch (altered)")
    _inclusion(src, result, folder, manifest, m_hash, checkpoint, bad)
    return result


def _inclusion(
    src: _Source,
    result: PackageResult,
    folder: str,
    manifest: Manifest,
    m_hash: str,
    checkpoint: SignedCheckpoint | None,
    bad: list[str],
) -> None:
    path = proof_path(folder)
    if path not in src:
        bad.append(f"{folder}: no inclusion proof ({path})")
        return
    try:
        proof = parse_inclusion_proof(src.read(path))
    except ProofError as exc:
        bad.append(f"{path}: {exc}")
        return
    leaf = proof.leaf
    if leaf.manifest_hash != m_hash:
        bad.append(
            f"{path}: the proof is for manifest {leaf.manifest_hash[:16]}…, the folder holds {m_hash[:16]}…"
        )
        return
    if (leaf.device_id, leaf.sequence) != (manifest.device_id, manifest.sequence):
        bad.append(f"{path}: the logged leaf names device {leaf.device_id} seq {leaf.sequence}")
        return
    if checkpoint is None:
        return  # the checkpoint's own problem is reported
    try:
        proof.verify(checkpoint.checkpoint)
    except ProofError as exc:
        bad.append(f"{folder}: not proven in the log: {exc}")
        return
    result.leaf_index = proof.leaf_index


def _ledger(
    src: _Source, report: ExportReport, checkpoint: SignedCheckpoint | None, folders: dict[str, list[str]]
) -> None:
    bad = report.problems
    try:
        entries = json.loads(src.read(LEDGER_JSON))
        case_id = json.loads(src.read(CASE_JSON))["case"]["id"]
    except (ValueError, KeyError, TypeError) as exc:
        bad.append(f"{LEDGER_JSON} or {CASE_JSON}: unreadable: {exc}")
        return
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        bad.append(f"{LEDGER_JSON}: expected the case's ledger entries, found none")
        return
    for e in entries:
        why = entry_problem(e)
        if why is not None:
            bad.append(f"{LEDGER_JSON}: {why}")
            return
        if e.get("case_id") != case_id:
            bad.append(
                f"{LEDGER_JSON}: entry {e.get('seq')} is of case {e.get('case_id')}, not case {case_id}"
            )
            return
    last: dict[str, Any] = entries[-1]
    if last.get("action") != EXPORT_ACTION:
        bad.append(
            f"{LEDGER_JSON}: the last entry is {last.get('action')}, not this export's {EXPORT_ACTION}"
        )
        return
    report.ledger_seq = int(last["seq"])
    if checkpoint is not None:
        cp = checkpoint.checkpoint
        if (cp.ledger_seq, cp.ledger_head_hash) != (last["seq"], last["hash"]):
            bad.append(
                f"{LEDGER_JSON}: the export's entry (seq {last['seq']}) is not the ledger head the checkpoint "
                f"signs (seq {cp.ledger_seq})"
            )
    payload = last.get("payload") or {}
    recorded: dict[str, str] = payload.get("members") or {}
    present = {f"{folder}/{name}" for folder, names in folders.items() for name in names}
    for name in sorted(set(recorded) - present):
        bad.append(f"{name}: recorded in the export's ledger entry, missing from the export")
    for name in sorted(present - set(recorded)):
        bad.append(f"{name}: in the export but not among the members its ledger entry records")
    for name in sorted(present & set(recorded)):
        if src.digest(name)[0] != recorded[name]:
            bad.append(f"{name}: differs from the SHA-256 the export's ledger entry records")
    fingerprints = payload.get("devices")
    if isinstance(fingerprints, dict) and fingerprints != report.devices:
        bad.append(
            f"{DEVICES_INDEX}: device keys differ from the fingerprints the export's ledger entry records"
        )


def _chain_positions(report: ExportReport) -> None:
    by_device: dict[str, list[PackageResult]] = {}
    for p in report.packages:
        if p.manifest is not None and p.manifest.kind != "public_copy":
            by_device.setdefault(p.manifest.device_id, []).append(p)
    for device, results in by_device.items():
        by_seq = {r.manifest.sequence: r for r in results if r.manifest is not None}
        for r in results:
            m = r.manifest
            assert m is not None
            prev = by_seq.get(m.sequence - 1)
            if m.sequence == 1:
                ok = m.prev_manifest_hash == GENESIS_HASH
                r.chain = "first of the device's chain" if ok else "seq 1 does not start from genesis"
                if not ok:
                    report.problems.append(f"{r.folder}: device {device} seq 1 does not start from genesis")
            elif prev is None:
                r.chain = f"previous (seq {m.sequence - 1}) is not in this case"
            elif prev.manifest_hash == m.prev_manifest_hash:
                r.chain = f"links to seq {m.sequence - 1} in this case"
            else:
                r.chain = f"does NOT link to seq {m.sequence - 1} in this case"
                report.problems.append(
                    f"{r.folder}: device {device} seq {m.sequence}'s prev_manifest_hash is not the hash of "
                    f"seq {m.sequence - 1} in this export (chain break)"
                )
    for p in report.packages:
        if p.manifest is not None and p.manifest.kind == "public_copy":
            p.chain = "public copy (not in the chain)"


def report_lines(report: ExportReport) -> list[str]:
    """What ``nce evidence verify`` prints for an export."""
    if not report.ok:
        n = len(report.packages)
        return [*report.problems, f"FAILED: {len(report.problems)} problem(s) in the export ({n} package(s))"]
    cp = report.checkpoint
    assert cp is not None
    lines = []
    for p in report.packages:
        m = p.manifest
        assert m is not None
        lines.append(
            f"OK {p.folder}: {m.kind}, device {m.device_id} seq {m.sequence} ({p.chain}), "
            f"{p.files_checked} file(s) re-hashed, signed by the enrolled key sha256 "
            f"{report.devices[m.device_id][:16]}…, log index {p.leaf_index} of {cp.checkpoint.tree_size} leaves"
        )
    pin = (
        "pinned"
        if report.pinned
        else "NOT pinned: compare it with the published fingerprint, or pass --service-key FINGERPRINT"
    )
    lines.append(
        f"OK: {len(report.packages)} package(s) from {len(report.devices)} device(s) verified from the export "
        f"alone; checkpoint of log {cp.checkpoint.log!r} ({cp.checkpoint.tree_size} leaves, {cp.checkpoint.time}) "
        f"signed by service key sha256 {report.service_key_fingerprint} ({pin}); "
        f"its ledger head is this export's entry (seq {report.ledger_seq}) and lists exactly these files"
    )
    return lines
