"""Sample packages on the service: frames the edge picked to learn from (``nce run`` with
``learning``). Checked like every package by :mod:`service.crud.ingest`, then stored here, in the
same transaction, and never filed as a case (docs/delivery.md, "Sample packages on the service")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from nce.manifest import Manifest
from nce.times import parse_utc_ms
from service import ledger
from service.crud import frame_sources
from service.errors import Invalid
from service.models import EvidenceFile, HitEventRow
from service.schemas.hits import HitAccepted
from service.transparency import log as transparency_log

if TYPE_CHECKING:
    from service.crud.ingest import Part  # ingest calls this module


def store_sample(
    session: Session,
    *,
    manifest: Manifest,
    m_hash: str,
    m_sha: str,
    raw: bytes,
    files: dict[str, Part],
    chain_gap: bool,
    actor: str,
) -> HitAccepted:
    """A sample package (a frame the edge picked to learn from; ``nce run`` with ``learning``): its
    row, its files, its log leaf and a ``sample_ingested`` ledger entry, as for every package, and
    never a case. The row has ``event == "sample"``, the package id as ``hit_id``, no violation or
    zone (empty strings) and the frame's time as ``ts``; its frame joins the frame pool (source
    ``sample``, the model's detections pre-filled) to be labelled."""
    sample = manifest.sample
    if sample is None:
        raise Invalid("a sample package needs its sample block")
    row = HitEventRow(
        device_id=manifest.device_id,
        hit_id=manifest.package_id,
        event="sample",
        seq=manifest.sequence,
        package_id=manifest.package_id,
        manifest_hash=m_hash,
        manifest=manifest.model_dump(mode="json"),
        case_id=None,
        violation="",
        camera_id=manifest.camera.id,
        zone_id="",
        shop_id=None,
        ts=parse_utc_ms(sample.frame_utc),
        chain_gap=chain_gap,
    )
    session.add(row)
    session.flush()
    stored = [("manifest.json", "manifest", m_sha, len(raw), "application/json")]
    stored += [(e.name, e.role, e.sha256, e.size, e.mime) for e in manifest.files]
    for name, role, sha, size, mime in stored:
        session.add(EvidenceFile(event_id=row.id, name=name, role=role, sha256=sha, size=size, mime=mime))
    entry = manifest.file(sample.frame)
    frame = None
    if entry is not None:  # the model guarantees it; the frame joins the pool to be labelled
        data = frame_sources.sample_frame(
            sample, camera_id=manifest.camera.id, event_id=row.id, package_id=manifest.package_id
        )
        head = files[entry.name].data
        frame = frame_sources.add_frame_image(session, sha256=entry.sha256, head=head, data=data, actor=actor)
    transparency_log.append(session, manifest=manifest, manifest_hash=m_hash)
    ledger.append(
        session,
        actor=actor,
        action="sample_ingested",
        case_id=None,
        payload={
            "device_id": manifest.device_id,
            "sequence": manifest.sequence,
            "package_id": manifest.package_id,
            "kind": manifest.kind,
            "camera_id": manifest.camera.id,
            "reason": sample.reason,
            "frame_id": frame.id if frame is not None else None,
            "manifest_hash": m_hash,
            "manifest_sha256": m_sha,  # the stored manifest.json (the bytes as received)
            "files": {e.name: e.sha256 for e in manifest.files},
            "chain_gap": chain_gap,
        },
    )
    return HitAccepted(
        hit_id=manifest.package_id, case_id=None, case_status=None, merged=False, chain_gap=chain_gap
    )
