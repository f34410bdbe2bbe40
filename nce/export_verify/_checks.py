"""The checks of a case export (the package's docstring lists them), each failure one line in the
report's problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from nce.case_export import (
    CASE_JSON,
    CHECKPOINT,
    DEVICES_INDEX,
    DOCUMENTS,
    EXPORT_ACTION,
    INCLUSION,
    LEDGER_JSON,
    LEGACY_DOCUMENT,
    PACKAGES,
    PUBLIC,
    SERVICE_KEY,
    SHOP,
    DevicesIndex,
    package_dir,
    proof_path,
)
from nce.export_verify._report import ExportReport, PackageResult
from nce.export_verify._source import ExportSource, open_export
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


def verify_export(path: str | Path, *, service_key_fingerprint: str | None = None) -> ExportReport:
    """Every check of the module doc; never raises for what it finds (see ``report.problems``).
    Raises :class:`ExportUnreadable` when ``path`` is not an export at all."""
    src = open_export(Path(path))
    report = ExportReport(path=str(path))
    try:
        _verify(src, report, service_key_fingerprint)
    finally:
        src.close()
    return report


def _verify(src: ExportSource, report: ExportReport, pin: str | None) -> None:
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


def _checkpoint(src: ExportSource, report: ExportReport, pin: str | None) -> SignedCheckpoint | None:
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


def _devices(src: ExportSource, report: ExportReport) -> tuple[dict[str, Ed25519PublicKey], set[str]]:
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


def _package_folders(src: ExportSource, report: ExportReport, key_files: set[str]) -> dict[str, list[str]]:
    """``packages/X`` and ``public/X`` folders and their file names; every other member is checked
    against the layout here."""
    folders: dict[str, list[str]] = {}
    fixed = {*DOCUMENTS, CASE_JSON, LEDGER_JSON, DEVICES_INDEX, SERVICE_KEY, CHECKPOINT}
    proofs: set[str] = set()
    for name in src.names:
        parts = name.split("/")
        if name in fixed or name in key_files:
            continue
        if parts[0] in (PACKAGES, PUBLIC) and len(parts) == 3:
            folders.setdefault(f"{parts[0]}/{parts[1]}", []).append(parts[2])
        elif parts[0] == SHOP and len(parts) == 2 and parts[1]:
            continue  # the shop's statements and photos: checked against the export's entry (_ledger)
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
    src: ExportSource,
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
    src: ExportSource,
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
    src: ExportSource,
    report: ExportReport,
    checkpoint: SignedCheckpoint | None,
    folders: dict[str, list[str]],
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
    present |= {d for d in DOCUMENTS if d in src}
    present |= {n for n in src.names if n.split("/")[0] == SHOP}
    if LEGACY_DOCUMENT in present and not set(DOCUMENTS) & set(recorded):
        present.discard(LEGACY_DOCUMENT)  # an export made before the documents were recorded
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
    by_device: dict[str, list[tuple[PackageResult, Manifest]]] = {}
    for p in report.packages:
        if p.manifest is not None and p.manifest.kind != "public_copy":
            by_device.setdefault(p.manifest.device_id, []).append((p, p.manifest))
    for device, results in by_device.items():
        by_seq = {m.sequence: r for r, m in results}
        for r, m in results:
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
