"""``nce evidence``: verify packages offline, make blurred public copies, print the schema.

- ``nce evidence verify PATH [--pubkey FILE] [--chain]``: PATH is one package folder or a folder of
  packages. Exit 0 with an ``OK`` summary naming the key used; exit 1 listing every problem.
  A case export (its zip, or the folder it was extracted to) is verified from itself alone
  (:mod:`nce.export_verify`; ``--service-key FINGERPRINT`` pins the service key).
- ``nce evidence publish PATH --out DIR [--key FILE]``: a disclosure copy (案件公示) with faces and
  number plates blurred, whose manifest names the original's hash.
- ``nce evidence schema``: the manifest's JSON Schema (docs/evidence-manifest.schema.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from detector.errors import EvidenceError
from nce.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    VerifyReport,
    load_private_key,
    load_public_key,
    manifest_schema_text,
    manifests_in,
    verify_chain,
    verify_package_dir,
)


def register(sub: Any) -> None:
    parser = sub.add_parser("evidence", help="verify evidence packages; make public copies")
    inner = parser.add_subparsers(dest="evidence_command", metavar="ACTION")
    inner.required = True

    verify = inner.add_parser("verify", help="re-hash files, check signatures (and the chain)")
    verify.add_argument("path", type=Path, help="a package folder, or a folder of package folders")
    verify.add_argument("--pubkey", type=Path, help="the device's public key (else the manifest's own key)")
    verify.add_argument("--chain", action="store_true", help="check sequence and prev-hash continuity")
    verify.add_argument(
        "--export", action="store_true", help="PATH is a case export (auto-detected: a zip, or its folder)"
    )
    verify.add_argument(
        "--service-key", metavar="FINGERPRINT", help="an export's service key must have this fingerprint"
    )
    verify.set_defaults(func=_verify)

    publish = inner.add_parser("publish", help="a disclosure copy with faces and plates blurred")
    publish.add_argument("path", type=Path, help="a package folder")
    publish.add_argument("--out", type=Path, required=True, help="folder for the public copy")
    publish.add_argument("--key", type=Path, help="sign the copy with this private key (else unsigned)")
    publish.set_defaults(func=_publish)

    schema = inner.add_parser("schema", help="print the manifest's JSON Schema")
    schema.set_defaults(func=_schema)


def _package_dirs(path: Path) -> list[Path]:
    if not path.exists():
        raise EvidenceError(f"{path}: no such file or folder")
    if path.is_file() and path.name == MANIFEST_NAME:
        return [path.parent]
    if (path / MANIFEST_NAME).is_file():
        return [path]
    if path.is_dir():
        dirs = list(manifests_in(path))
        if dirs:
            return dirs
    raise EvidenceError(f"{path}: neither a package folder (with {MANIFEST_NAME}) nor a folder of packages")


def _verify(args: argparse.Namespace) -> int:
    from nce.export_verify import is_export

    if args.export or is_export(args.path):
        return _verify_export(args)
    pubkey = None
    if args.pubkey is not None:
        try:
            pubkey = load_public_key(args.pubkey)
        except ManifestError as exc:
            raise EvidenceError(f"--pubkey: {exc}") from exc
    dirs = _package_dirs(args.path)
    reports: list[VerifyReport] = [verify_package_dir(d, pubkey) for d in dirs]
    problems: list[str] = []
    for r in reports:
        name = Path(r.path).name
        problems += [f"{name}: {p}" for p in r.problems]
    manifests: list[Manifest] = [r.manifest for r in reports if r.manifest is not None]
    if args.chain:
        problems += [str(p) for p in verify_chain(manifests)]
    if problems:
        for line in problems:
            print(line)
        print(f"FAILED: {len(problems)} problem(s) in {len(dirs)} package(s)")
        return 1
    keys = sorted({str(r.key_used) for r in reports if r.key_used is not None})
    for r in reports:
        m = r.manifest
        if m is None:  # never: a package without a manifest has a problem, listed above
            raise EvidenceError(f"{r.path}: no manifest was read")
        print(
            f"OK {Path(r.path).name}: {m.kind}, device {m.device_id} seq {m.sequence}, "
            f"{r.files_checked} file(s) re-hashed, manifest sha256 {r.manifest_hash}"
        )
    signed = "; ".join(keys) if keys else "no signature (unsigned public copy)"
    chain = ", chain continuous" if args.chain else ""
    print(f"OK: {len(reports)} package(s){chain}; signatures checked against {signed}")
    if pubkey is None and keys:
        print(
            "note: the key in the manifest proves integrity, not origin: compare its fingerprint with "
            "the device's enrolled key, or pass --pubkey"
        )
    return 0


def _verify_export(args: argparse.Namespace) -> int:
    from nce.export_verify import ExportUnreadable, report_lines, verify_export

    if args.pubkey is not None:
        raise EvidenceError("--pubkey: an export carries its devices' enrolled keys (devices/)")
    try:
        report = verify_export(args.path, service_key_fingerprint=args.service_key)
    except ExportUnreadable as exc:
        raise EvidenceError(str(exc)) from exc
    if args.chain and report.ok:  # the device's whole chain, as for a folder of packages
        report.problems += [str(p) for p in verify_chain(report.manifests)]
    for line in report_lines(report):
        print(line)
    return 0 if report.ok else 1


def _publish(args: argparse.Namespace) -> int:
    from detector.evidence.publish import publish_copy

    key = None
    if args.key is not None:
        try:
            key = load_private_key(args.key)
        except ManifestError as exc:
            raise EvidenceError(f"--key: {exc}") from exc
    result = publish_copy(args.path, args.out, key=key)
    print(
        f"public copy: {result.folder} ({result.faces} face(s), {result.plates} plate(s) blurred in "
        f"{result.images} image(s){', ' + str(result.clip_frames) + ' clip frame(s)' if result.clip_frames else ''}); "
        f"original manifest sha256 {result.original_hash}"
    )
    print("review every public copy before publication: automatic blurring misses faces and plates")
    return 0


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(manifest_schema_text())
    return 0
