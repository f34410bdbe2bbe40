"""Export of a confirmed case for the case system (网上办案系统): one zip, verifiable offline from
itself alone (``nce evidence verify nce-case-ID.zip``). Its layout is :mod:`nce.case_export`:

::

    case.json, ledger.json, README.txt
    README.zh-CN.txt, 证据清单.html           in Chinese: how to verify; the printable evidence list
    packages/<device_id>-<sequence>/…        each original package: manifest.json as received + files
    public/<device_id>-<sequence>-<hash16>/… disclosure copies (faces and plates blurred), if any
    devices/index.json, devices/<id>.pub     the enrolled key of each device, with its fingerprint
    transparency/service.pub                 the service key
    transparency/checkpoint.json             a checkpoint signed now: covers every package of the case
    transparency/inclusion/<folder>.json     each package's inclusion proof to that checkpoint
    shop/responses.json, shop/<seq>-<sha>.*  the shop page's statements and correction photos, if any

The ledger entry of the export (its payload names every package member and every document —
README.txt, README.zh-CN.txt, 证据清单.html, :mod:`service.crud.export_docs` — with its SHA-256, and
each device key's fingerprint) is the ledger head that the checkpoint signs, so the checkpoint binds the
member list: a package removed from or added to the zip is found. The zip writer refuses to write
one name twice.

The party and the legal basis are the ones the ledger recorded at review (a case reviewed before the
ledger recorded them: the registry's and the table's rows now); the export's ledger entry records
them again, so that a later change of the shop registry never changes what was exported.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.case_export import (
    CASE_JSON,
    CHECKPOINT,
    DEVICES_INDEX,
    EVIDENCE_LIST,
    EXPORT_ACTION,
    LEDGER_JSON,
    README,
    README_ZH,
    SERVICE_KEY,
    DeviceKeyRef,
    DevicesIndex,
    device_key_path,
    package_dir,
    proof_path,
)
from nce.ledger_chain import sha256_hex
from nce.manifest import Manifest, key_fingerprint, load_public_key, parse_manifest
from service import ledger, workflow
from service.auth import Principal
from service.case_status import REVIEWED_STATUSES
from service.crud.cases import case_detail, get_case, party_and_basis
from service.crud.export_docs import DocFile, DocInput, DocStill, evidence_list, readme_zh
from service.crud.export_shop import shop_members
from service.errors import Conflict, ServiceError
from service.evidence_store import EvidenceStore
from service.legal import LegalBasisTable
from service.models import Device, EvidenceFile, HitEventRow, utcnow
from service.outbox.events import emit_case_event
from service.schemas.cases import CaseDetail
from service.transparency import checkpoints, log
from service.transparency.key import TransparencyLog

SPOOL_BYTES = 16 * 1024 * 1024

README_TEXT = """NCE case export

Verify it offline, from this zip alone (no other case's evidence and no network needed):

    nce evidence verify {zip_name} --service-key {fingerprint}

{fingerprint} is the fingerprint of the service key; compare it with the one the bureau
publishes (nce ledger publish-key). The command checks:
  - every package in packages/ and public/: its manifest signature against the device's enrolled
    key in devices/ (whose fingerprint devices/index.json names), every file's size and SHA-256,
    nothing missing, nothing extra;
  - that every package was logged by the service: its inclusion proof (transparency/inclusion/)
    leads to the root of transparency/checkpoint.json, signed by transparency/service.pub;
  - that the checkpoint's ledger head is this export's own ledger entry (the last in ledger.json),
    whose payload lists every package file, this README, README.zh-CN.txt and 证据清单.html with
    its SHA-256: nothing was added, left out or changed;
  - and it reports where each package stands in its device's hash chain (sequence, and the link
    to the previous package when that one is in this case too).

packages/<device_id>-<sequence>/ holds each package exactly as the edge device signed it. A case
holds only some packages of a device's chain, so `nce evidence verify … --chain` (the continuity
of a device's whole chain) is for a device's complete set of packages, not for one case.
The service checks its whole ledger and log against a kept checkpoint with
    nce ledger verify --db URL --checkpoint checkpoint.json
"""


class ExportError(ServiceError):
    """An export that would not be exactly the case's evidence: refused (a bug, never hidden)."""

    status_code = 500


@dataclass(frozen=True)
class _Package:
    folder: str  # packages/<device>-<seq> or public/<device>-<seq>-<hash16>
    device_id: str
    manifest_hash: str
    files: list[EvidenceFile]
    manifest: Manifest


class ZipOut:
    """A zip writer that refuses a name it has written already (zipfile would silently add a second
    entry that most readers take instead of the first)."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self._zf = zf
        self._names: set[str] = set()

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ExportError(f"export refused: zip member {name} would be written twice")
        self._names.add(name)

    def text(self, name: str, data: str | bytes) -> None:
        self._claim(name)
        self._zf.writestr(name, data)

    def file(self, name: str, chunks: Iterable[bytes]) -> None:
        """A member from the store's chunks (streamed: never a whole file in memory)."""
        self._claim(name)
        info = zipfile.ZipInfo(name, date_time=dt.datetime.now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        with self._zf.open(info, "w", force_zip64=True) as member:
            for chunk in chunks:
                member.write(chunk)


def export_case(
    session: Session,
    *,
    store: EvidenceStore,
    principal: Principal,
    case_id: int,
    legal: LegalBasisTable,
    tlog: TransparencyLog,
) -> tuple[str, IO[bytes]]:
    """Build the zip in a temporary file (in memory up to 16 MiB), positioned at its start; record
    the export (confirmed/escalated cases become exported) and sign a checkpoint whose ledger head
    is that record. Commits. The caller closes the file."""
    ledger.begin(session)
    case = get_case(session, principal=principal, case_id=case_id, for_update=True)
    ledger.lock_head(session)  # after the case's row (an ingest's order): the checkpoint's head
    if case.status not in REVIEWED_STATUSES:
        raise Conflict(f"case {case_id} is {case.status}; only confirmed cases can be exported")
    packages = _packages(session, case_id=case.id)
    members: dict[str, str] = {}  # zip path -> sha256
    for p in packages:
        for f in p.files:
            path = f"{p.folder}/{f.name}"
            if path in members:
                raise ExportError(f"export refused: zip member {path} would be written twice")
            members[path] = f.sha256
    shop_files, shop_docs = shop_members(session, case.id)  # the shop page's statements and photos
    members.update(shop_files)
    devices = _device_keys(session, sorted({p.device_id for p in packages}))
    leaves = log.leaves_for(session, [p.manifest_hash for p in packages])
    unlogged = [p.folder for p in packages if p.manifest_hash not in leaves]
    if unlogged:
        raise ExportError(f"export refused: {', '.join(unlogged)} not in the transparency log")
    party, basis, _entry = party_and_basis(session, case=case, legal=legal)
    now = utcnow()
    name = f"nce-case-{case.id}.zip"
    service_pub = tlog.key.public_key()
    docs = _documents(
        session, principal=principal, case_id=case.id, legal=legal, name=name, now=now,
        fingerprint=key_fingerprint(service_pub), party=party, basis=basis, packages=packages,
        devices={d: (ref.key_file, ref.fingerprint) for d, (ref, _) in devices.items()},
    )  # fmt: skip
    docs.update(shop_docs)
    old = case.status
    if old in ("confirmed", "escalated"):
        workflow.move(case, "exported", now)
        case.exported_at = now
    ledger.append(
        session,
        actor=principal.actor,
        action=EXPORT_ACTION,
        case_id=case.id,
        payload={
            "from": old,
            "to": case.status,
            "members": {**members, **{doc: sha256_hex(data) for doc, data in docs.items()}},
            "devices": {d: ref.fingerprint for d, (ref, _) in devices.items()},
            "party": party,
            "legal_basis": basis,
        },
    )
    emit_case_event(session, case, "exported", at=now, detail={"from": old, "name": name})
    session.flush()
    signed = checkpoints.make(session, tlog)  # its ledger head is the entry just appended
    size = signed.checkpoint.tree_size
    with tlog.tree.synced(session) as tree:
        proofs = {p.folder: log.inclusion_proof(tree, leaves[p.manifest_hash], size) for p in packages}
    detail = case_detail(session, principal=principal, case_id=case.id, legal=legal, limit=None)
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
            z = ZipOut(zf)
            for doc, data in docs.items():
                z.text(doc, data)
            z.text(CASE_JSON, detail.model_dump_json(indent=2))
            z.text(
                LEDGER_JSON,
                json.dumps([e.model_dump(mode="json") for e in detail.ledger], indent=2, ensure_ascii=False),
            )
            index = DevicesIndex({d: ref for d, (ref, _) in devices.items()})
            z.text(DEVICES_INDEX, index.model_dump_json(indent=2))
            for ref, pem in devices.values():
                z.text(ref.key_file, pem)
            z.text(SERVICE_KEY, _pem(service_pub))
            z.text(CHECKPOINT, signed.to_json_bytes())
            for folder, proof in proofs.items():
                z.text(proof_path(folder), proof.model_dump_json(indent=2))
            for path, sha in members.items():
                z.file(path, store.stream(sha))
        session.commit()
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return name, out


def _documents(
    session: Session,
    *,
    principal: Principal,
    case_id: int,
    legal: LegalBasisTable,
    name: str,
    now: dt.datetime,
    fingerprint: str,
    party: dict[str, Any] | None,
    basis: dict[str, Any] | None,
    packages: list[_Package],
    devices: dict[str, tuple[str, str]],
) -> dict[str, bytes]:
    """README.txt, README.zh-CN.txt and 证据清单.html, from the case as it stands before the export."""
    detail = case_detail(session, principal=principal, case_id=case_id, legal=legal, limit=None)
    files = [DocFile(f"{p.folder}/{f.name}", f.role, f.size, f.sha256) for p in packages for f in p.files]
    stills = [
        DocStill(
            s.moment, s.frame_utc, f"{p.folder}/{s.raw}", f"{p.folder}/{s.annotated}" if s.annotated else None
        )
        for p in packages
        if p.manifest.kind != "public_copy"
        for s in p.manifest.stills
    ]
    doc = DocInput(
        zip_name=name, service_fingerprint=fingerprint, case=detail.case, party=party, basis=basis,
        files=files, stills=stills, devices=devices, exporter=principal.actor, exported_at=now,
    )  # fmt: skip
    readme = README_TEXT.format(zip_name=name, fingerprint=fingerprint) + _readme_party(party, basis, detail)
    return {
        README: readme.encode("utf-8"),
        README_ZH: readme_zh(doc).encode("utf-8"),
        EVIDENCE_LIST: evidence_list(doc).encode("utf-8"),
    }


def _readme_party(party: dict[str, Any] | None, basis: dict[str, Any] | None, detail: CaseDetail) -> str:
    rec = detail.recorded
    where = f"ledger entry {rec.seq} ({rec.action})" if rec is not None else "the registry at export"
    lines = ["", f"Party and legal basis, as recorded in {where}; case.json shows the same:"]
    if party is None:
        lines.append("    party: none recorded (no shop, or the shop was not in the registry)")
    else:
        for key in ("shop_id", "name", "code", "license_no", "address", "contact"):
            if party.get(key):
                lines.append(f"    party.{key}: {party[key]}")
    if basis is None:
        lines.append("    legal basis: none for this violation")
    else:
        row = basis.get("basis") or {}
        lines.append(
            f"    legal basis: {basis.get('id')} ({basis.get('jurisdiction')}), {basis.get('version')}"
        )
        for key in ("regulation", "article", "penalty", "verified"):
            if row.get(key) is not None:
                lines.append(f"    legal basis.{key}: {row[key]}")
    return "\n".join(lines) + "\n"


def _packages(session: Session, *, case_id: int) -> list[_Package]:
    """The case's signed packages (originals and public copies) with their files, in ingest order."""
    events = list(
        session.execute(
            select(HitEventRow)
            .where(HitEventRow.case_id == case_id, HitEventRow.manifest_hash.is_not(None))
            .order_by(HitEventRow.id)
        ).scalars()
    )
    files: dict[int, list[EvidenceFile]] = {}
    for f in session.execute(
        select(EvidenceFile)
        .where(EvidenceFile.event_id.in_([e.id for e in events] or [-1]))
        .order_by(EvidenceFile.id)
    ).scalars():
        files.setdefault(f.event_id, []).append(f)
    out = []
    for e in events:
        if e.manifest is None or e.manifest_hash is None:
            raise ExportError(f"export refused: event {e.id} has a manifest hash but no stored manifest")
        manifest = parse_manifest(e.manifest)
        out.append(
            _Package(
                package_dir(manifest, e.manifest_hash),
                e.device_id,
                e.manifest_hash,
                files.get(e.id, []),
                manifest,
            )
        )
    return out


def _device_keys(session: Session, device_ids: list[str]) -> dict[str, tuple[DeviceKeyRef, bytes]]:
    """Each device's enrolled key: its index entry and its PEM."""
    out: dict[str, tuple[DeviceKeyRef, bytes]] = {}
    for device_id in device_ids:
        device = session.get(Device, device_id)
        if device is None:
            raise ExportError(f"export refused: device {device_id} is not enrolled")
        key = load_public_key(device.public_key.encode("ascii"))
        out[device_id] = (
            DeviceKeyRef(key_file=device_key_path(device_id), fingerprint=key_fingerprint(key)),
            _pem(key),
        )
    return out


def _pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
