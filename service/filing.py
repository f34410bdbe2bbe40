"""Case filing: which case a hit belongs to, and opening one.

- A package's hit that already has a case joins it (a sighting); a ``violation`` package whose event
  is ``confirmed`` and whose hit has no case joins an *open* case of the same shop (no shop: the same
  camera and zone) and violation, or opens a new ``draft``.
- A ``public_copy`` joins the case of its original, which must be a package of the SAME device
  (never a public copy itself) filed in a case that is still open. Its own row never anchors later
  events: the hit id a public copy names carries nothing into a case.
- An unsigned event joins its hit's case if the hit has one; it never opens a case.

What a hit does to its case is :func:`service.workflow.apply_sighting`. Every function here runs in
the caller's transaction, which holds the device's row lock (:mod:`service.crud.ingest`); the case
found is locked (``FOR UPDATE``), and on PostgreSQL the search for an open case of a shop (no shop:
a camera's zone) and violation, with the case it may open, is one at a time per shop and violation
(a transaction advisory lock): two devices of one shop open one case, not two. (SQLite: one writer.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nce.manifest import Manifest
from nce.times import parse_utc_ms
from service import workflow
from service.case_status import OPEN_STATUSES
from service.errors import Invalid
from service.models import Case, HitEventRow, utcnow

PUBLIC_COPY = "public_copy"  # the event of a public copy's row
# the advisory locks' first key (the two-key form: apart from service.leader's one-key lock): "case"
_OPEN_CASE_LOCKS = 0x63617365


@dataclass(frozen=True)
class Filed:
    case: Case | None
    merged: bool  # the hit joined an existing case


def package_sighting(manifest: Manifest, *, received_at: dt.datetime) -> workflow.Sighting:
    """A signed package's event as its case sees it (a ``cleared`` package is a clearance)."""
    ev = manifest.hit().event
    return workflow.Sighting(
        event="cleared" if manifest.kind == "cleared" else ev.event,
        ts=parse_utc_ms(ev.ts),
        first_seen=parse_utc_ms(ev.first_seen),
        last_seen=parse_utc_ms(ev.last_seen),
        received_at=received_at,
        signed=True,
    )


def _locked(session: Session, case_id: int) -> Case:
    return session.execute(select(Case).where(Case.id == case_id).with_for_update()).scalar_one()


def case_of_hit(session: Session, *, device_id: str, hit_id: str) -> Case | None:
    """The case of the device's hit (the newest that filed one), locked; public copies never count.
    One query: the case row, found through the hit's newest row."""
    case_id = (
        select(HitEventRow.case_id)
        .where(
            HitEventRow.device_id == device_id,
            HitEventRow.hit_id == hit_id,
            HitEventRow.case_id.is_not(None),
            HitEventRow.event != PUBLIC_COPY,
        )
        .order_by(HitEventRow.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return session.execute(
        select(Case).where(Case.id == case_id).with_for_update(of=Case)
    ).scalar_one_or_none()


def open_case(
    session: Session, *, violation: str, shop_id: str | None, camera_id: str, zone_id: str
) -> Case | None:
    """The newest open case of the shop (no shop: camera and zone) and violation, locked; on
    PostgreSQL the caller holds the search's advisory lock until its commit (:data:`_OPEN_CASE_LOCKS`)."""
    if session.get_bind().dialect.name == "postgresql":
        where = f"{violation}|{shop_id}" if shop_id is not None else f"{violation}||{camera_id}|{zone_id}"
        session.execute(select(func.pg_advisory_xact_lock(_OPEN_CASE_LOCKS, func.hashtext(where))))
    q = select(Case).where(Case.violation == violation, Case.status.in_(OPEN_STATUSES))
    if shop_id is not None:
        q = q.where(Case.shop_id == shop_id)
    else:
        q = q.where(Case.shop_id.is_(None), Case.camera_id == camera_id, Case.zone_id == zone_id)
    return session.execute(q.order_by(Case.id.desc()).limit(1).with_for_update()).scalar_one_or_none()


def _new_case(session: Session, manifest: Manifest, sighting: workflow.Sighting) -> Case:
    now = utcnow()
    zone, violation, _ev = manifest.hit()
    case = Case(
        status="draft",
        violation=violation,
        site_id=manifest.site.id,
        camera_id=manifest.camera.id,
        zone_id=zone.id,
        shop_id=manifest.shop_id,
        first_seen=sighting.first_seen,
        last_seen=sighting.last_seen,
        sightings=0,
        hit_count=0,
        flags=[],
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    return case


def case_of_original(session: Session, manifest: Manifest) -> Case:
    """A public copy's case: its original's, if the original is this device's package of an open case."""
    derived = manifest.derived_from
    if derived is None:
        raise Invalid("derived_from: a public copy must name the package it was made from")
    original = session.execute(
        select(HitEventRow).where(
            HitEventRow.manifest_hash == derived.manifest_hash, HitEventRow.device_id == manifest.device_id
        )
    ).scalar_one_or_none()
    if original is None:
        raise Invalid(f"derived_from: no package of this device has manifest hash {derived.manifest_hash}")
    if original.package_id != derived.package_id:
        raise Invalid(
            f"derived_from: package_id {derived.package_id} is not the package with that manifest hash "
            f"({original.package_id})"
        )
    if original.event == PUBLIC_COPY:
        raise Invalid(f"derived_from: package {original.package_id} is a public copy; name the original")
    if original.case_id is None:
        raise Invalid(f"derived_from: package {original.package_id} belongs to no case")
    case = _locked(session, original.case_id)
    if case.status not in OPEN_STATUSES:
        raise Invalid(
            f"derived_from: case {case.id} of package {original.package_id} is {case.status}; "
            "public copies are taken for open cases only"
        )
    return case


def file_package(
    session: Session, *, manifest: Manifest, sighting: workflow.Sighting, chain_gap: bool
) -> Filed:
    """Find or open the case of a signed package and fold its event into it."""
    if manifest.kind == "public_copy":
        return Filed(case_of_original(session, manifest), merged=True)
    zone, violation, ev = manifest.hit()
    case = case_of_hit(session, device_id=manifest.device_id, hit_id=ev.hit_id)
    same_hit = merged = case is not None
    if case is None and manifest.kind == "violation" and ev.event == "confirmed":
        case = open_case(
            session,
            violation=violation,
            shop_id=manifest.shop_id,
            camera_id=manifest.camera.id,
            zone_id=zone.id,
        )
        merged = case is not None
        if case is None:
            case = _new_case(session, manifest, sighting)
    if case is None:
        return Filed(None, merged=False)
    if not same_hit:
        case.hit_count += 1
    if chain_gap:
        workflow.add_flag(case, "chain_gap")
    workflow.apply_sighting(case, sighting)
    case.updated_at = utcnow()
    return Filed(case, merged)


def file_event(session: Session, *, device_id: str, hit_id: str, sighting: workflow.Sighting) -> Case | None:
    """An unsigned event: the hit's case, if it has one, with the sighting folded in."""
    case = case_of_hit(session, device_id=device_id, hit_id=hit_id)
    if case is not None:
        workflow.apply_sighting(case, sighting)
        case.updated_at = utcnow()
    return case
