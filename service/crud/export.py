"""Export of a confirmed case for the case system (网上办案系统): one zip.

::

    case.json                         the case detail (case, hits, party, legal basis, history, ledger)
    packages/<package_id>/manifest.json   the original manifest bytes as received
    packages/<package_id>/<file>          the original files, under their names in the manifest
    public/<package_id>/…                 disclosure copies (faces and plates blurred), if any
    ledger.json                       the ledger entries of the case, the export included
    README.txt                        how to verify (nce evidence verify)
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import ledger, workflow
from service.auth import Principal
from service.case_status import REVIEWED_STATUSES
from service.crud.cases import case_detail, get_case
from service.errors import Conflict
from service.evidence_store import EvidenceStore
from service.legal import LegalBasisTable
from service.models import EvidenceFile, HitEventRow, utcnow

SPOOL_BYTES = 16 * 1024 * 1024

README = """NCE case export

packages/<id>/ holds each evidence package exactly as the edge device signed it. Check one with
    nce evidence verify packages/<id> --pubkey DEVICE.pub
(signature, every file's SHA-256, missing or extra files) and a folder of them with --chain.
ledger.json lists this case's ledger entries; the service checks the whole chain with
    nce ledger verify --db URL
"""


def export_case(
    session: Session, *, store: EvidenceStore, principal: Principal, case_id: int, legal: LegalBasisTable
) -> tuple[str, IO[bytes]]:
    """Build the zip in a temporary file (in memory up to 16 MiB), positioned at its start; record
    the export (confirmed/escalated cases become exported). Commits. The caller closes the file."""
    ledger.lock_head(session)
    case = get_case(session, principal=principal, case_id=case_id, for_update=True)
    if case.status not in REVIEWED_STATUSES:
        raise Conflict(f"case {case_id} is {case.status}; only confirmed cases can be exported")
    events = list(
        session.execute(
            select(HitEventRow).where(HitEventRow.case_id == case.id).order_by(HitEventRow.id)
        ).scalars()
    )
    files_by_event: dict[int, list[EvidenceFile]] = {}
    for f in session.execute(
        select(EvidenceFile)
        .where(EvidenceFile.event_id.in_([e.id for e in events] or [-1]))
        .order_by(EvidenceFile.id)
    ).scalars():
        files_by_event.setdefault(f.event_id, []).append(f)
    members: dict[str, str] = {}  # zip path -> sha256
    for e in events:
        if e.package_id is None:
            continue
        folder = "public" if e.event == "public_copy" else "packages"
        for f in files_by_event.get(e.id, []):
            members[f"{folder}/{e.package_id}/{f.name}"] = f.sha256
    now = utcnow()
    old = case.status
    if old in ("confirmed", "escalated"):
        workflow.move(case, "exported", now)
        case.exported_at = now
    ledger.append(
        session,
        actor=principal.actor,
        action="case_exported",
        case_id=case.id,
        payload={"from": old, "to": case.status, "members": members},
    )
    session.flush()
    detail = case_detail(session, principal=principal, case_id=case.id, legal=legal)
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    try:
        _write_zip(
            out,
            store=store,
            detail_json=detail.model_dump_json(indent=2),
            ledger_json=json.dumps(
                [e.model_dump(mode="json") for e in detail.ledger], indent=2, ensure_ascii=False
            ),
            members=members,
        )
        session.commit()
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return f"nce-case-{case.id}.zip", out


def _write_zip(
    out: IO[bytes], *, store: EvidenceStore, detail_json: str, ledger_json: str, members: dict[str, str]
) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("README.txt", README)
        zf.writestr("case.json", detail_json)
        zf.writestr("ledger.json", ledger_json)
        for path, sha in members.items():
            zf.write(store.existing_path(sha), arcname=path)  # streamed from the store
