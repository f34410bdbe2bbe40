"""Cases as they are read: list, one case, its detail (paged hits and ledger), its party and basis.

What changes a case (review, notice, deadlines) is :mod:`service.crud.case_actions`. A review records the case's party (the shop registry row) and legal basis in the ledger; the detail
and the export show the latest recorded ones from then on (:func:`recorded_basis`), never the registry
as it is now.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, Select, String, cast, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nce.bounds import INT32_MAX
from service.auth import Principal
from service.case_status import REVIEWED_STATUSES
from service.errors import Invalid, NotFound
from service.legal import LegalBasis, LegalBasisTable
from service.models import Case, EvidenceFile, HitEventRow, LedgerEntry, Shop
from service.outbox.notice import IN_PERSON_FLAG
from service.schemas.cases import (
    CaseDetail,
    CasePublic,
    HitPublic,
    HitsPage,
    LedgerPage,
    PriorCase,
    RecordedBasis,
    ShopHistory,
)
from service.schemas.hits import EvidenceFilePublic
from service.schemas.ledger import LedgerEntryPublic
from service.schemas.shops import ShopPublic
from service.snapshots import legal_record, party_record

MAX_PAGE = 200
DETAIL_PAGE = 100  # hits and ledger entries in a case detail (and the default page of each)
ITEMS_MAX_PAGE = 500
RowT = TypeVar("RowT", HitEventRow, LedgerEntry)
# the entries that record the party and the legal basis
RECORDING_ACTIONS: tuple[str, ...] = ("case_reviewed", "case_exported")


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    violation: str | None = None
    camera_id: str | None = None
    shop_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None  # a case id (#12), a shop's id, name or address, or a camera id
    delivery: Literal["in_person"] | None = None  # in_person: notices to hand over (现场送达)


def _encode(key: str, value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({key: value}).encode()).decode().rstrip("=")


def _decode(cursor: str, key: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)[key]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Invalid("cursor: not a cursor this service issued") from exc
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= INT32_MAX:
        raise Invalid("cursor: not a cursor this service issued")
    return value


def encode_cursor(case_id: int) -> str:
    return _encode("before", case_id)


def decode_cursor(cursor: str) -> int:
    return _decode(cursor, "before")


def _visible(query: Select[Case], principal: Principal) -> Select[Case]:
    if principal.role == "case_system":
        return query.where(Case.status.in_(REVIEWED_STATUSES))
    return query


def list_cases(
    session: Session, *, principal: Principal, flt: CaseFilter, cursor: str | None, limit: int
) -> tuple[list[Case], str | None]:
    """Newest first (by id); the cursor is the last id of the previous page."""
    limit = max(1, min(limit, MAX_PAGE))
    q = filtered(_visible(select(Case), principal), flt)
    if cursor:
        q = q.where(Case.id < decode_cursor(cursor))
    rows = list(session.execute(q.order_by(Case.id.desc()).limit(limit + 1)).scalars())
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _search(text: str) -> ColumnElement[bool]:
    """Cases whose id is ``text`` (``#12`` or ``12``), or whose shop (id, name, address) or camera id
    contains it (case-insensitive; ``%`` and ``_`` match themselves)."""
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    shops = select(Shop.shop_id).where(
        or_(*(col.ilike(like, escape="\\") for col in (Shop.shop_id, Shop.name, Shop.address)))
    )
    found: list[ColumnElement[bool]] = [Case.shop_id.in_(shops), Case.camera_id.ilike(like, escape="\\")]
    digits = text.removeprefix("#")
    if digits.isascii() and digits.isdigit() and int(digits) <= INT32_MAX:
        found.append(Case.id == int(digits))
    return or_(*found)


def filtered(q: Select[Any], flt: CaseFilter) -> Select[Any]:
    """``q`` narrowed to the cases ``flt`` lets through."""
    if flt.status:
        q = q.where(Case.status == flt.status)
    if flt.violation:
        q = q.where(Case.violation == flt.violation)
    if flt.camera_id:
        q = q.where(Case.camera_id == flt.camera_id)
    if flt.shop_id:
        q = q.where(Case.shop_id == flt.shop_id)
    if flt.since:
        q = q.where(Case.last_seen >= flt.since)
    if flt.until:
        q = q.where(Case.first_seen < flt.until)
    if flt.text:
        q = q.where(_search(flt.text))
    if flt.delivery == "in_person":  # the flag in the JSON list, as its text (SQLite and PostgreSQL alike)
        q = q.where(cast(Case.flags, String).like(f'%"{IN_PERSON_FLAG}"%'))
    return q


def get_case(session: Session, *, principal: Principal, case_id: int, for_update: bool = False) -> Case:
    """The case, or NotFound when it does not exist or the principal may not see it."""
    q = select(Case).where(Case.id == case_id)
    if for_update:
        q = q.with_for_update()
    case = session.execute(q).scalar_one_or_none()
    if case is None or not principal.may_see_status(case.status):
        raise NotFound(f"case {case_id} not found")
    return case


def evidence_url(sha256: str) -> str:
    return f"/api/v1/evidence/{sha256}"


def _hit_rows(
    session: Session, *, case_id: int, after: int | None = None, before: int | None = None,
    limit: int | None = None, newest: bool = False,
) -> list[HitEventRow]:  # fmt: skip
    """The case's hit events by id: oldest first, or the newest ``limit`` (still oldest first)."""
    q = select(HitEventRow).where(HitEventRow.case_id == case_id)
    return _rows(session, q, HitEventRow.id, after=after, before=before, limit=limit, newest=newest)


def _rows(
    session: Session, query: Select[RowT], key: InstrumentedAttribute[int], *, after: int | None,
    before: int | None, limit: int | None, newest: bool,
) -> list[RowT]:  # fmt: skip
    """The rows of ``query`` by ``key`` between ``after`` and ``before``: oldest first, or the newest
    ``limit`` (still oldest first)."""
    if after is not None:
        query = query.where(key > after)
    if before is not None:
        query = query.where(key < before)
    query = query.order_by(key.desc() if newest else key)
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.execute(query).scalars())
    return rows[::-1] if newest else rows


def _hits_public(
    session: Session, events: list[HitEventRow], deadline: dt.datetime | None
) -> list[HitPublic]:
    files: dict[int, list[EvidenceFile]] = {}
    if events:
        for f in session.execute(
            select(EvidenceFile)
            .where(EvidenceFile.event_id.in_([e.id for e in events]))
            .order_by(EvidenceFile.id)
        ).scalars():
            files.setdefault(f.event_id, []).append(f)
    return [
        HitPublic(
            id=e.id,
            hit_id=e.hit_id,
            event=e.event,
            device_id=e.device_id,
            seq=e.seq,
            package_id=e.package_id,
            manifest_hash=e.manifest_hash,
            ts=e.ts,
            received_at=e.received_at,
            chain_gap=e.chain_gap,
            clock_offset_ms=e.clock_offset_ms,
            signed=e.manifest_hash is not None,
            after_deadline=deadline is not None and min(e.ts, e.received_at) > deadline,
            files=[
                EvidenceFilePublic(
                    name=f.name,
                    role=f.role,
                    sha256=f.sha256,
                    size=f.size,
                    mime=f.mime,
                    url=evidence_url(f.sha256),
                )
                for f in files.get(e.id, [])
            ],
        )
        for e in events
    ]


def hits_of_case(
    session: Session, *, case_id: int, deadline: dt.datetime | None = None, before: int | None = None,
    limit: int | None = None, newest: bool = False,
) -> list[HitPublic]:  # fmt: skip
    """The case's hit events, oldest first (all of them, or the newest ``limit`` before ``before``);
    those after ``deadline`` (the notice's) are marked."""
    rows = _hit_rows(session, case_id=case_id, before=before, limit=limit, newest=newest)
    return _hits_public(session, rows, deadline)


def hits_total(session: Session, *, case_id: int) -> int:
    q = select(func.count()).select_from(HitEventRow).where(HitEventRow.case_id == case_id)
    return int(session.execute(q).scalar_one())


def ledger_total(session: Session, *, case_id: int) -> int:
    q = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.case_id == case_id)
    return int(session.execute(q).scalar_one())


def _page_limit(limit: int | None) -> int:
    return max(1, min(limit or DETAIL_PAGE, ITEMS_MAX_PAGE))


def _next_url(case_id: int, what: str, cursor: str | None, limit: int) -> str | None:
    return f"/api/v1/cases/{case_id}/{what}?cursor={cursor}&limit={limit}" if cursor else None


def _hits_page(
    session: Session, case: Case, *, after: int | None, limit: int
) -> tuple[list[HitPublic], str | None]:
    rows = _hit_rows(session, case_id=case.id, after=after, limit=limit + 1)
    cursor = _encode("hits_after", rows[limit - 1].id) if len(rows) > limit else None
    return _hits_public(session, rows[:limit], case.notice_deadline), cursor


def _ledger_rows(
    session: Session, *, case_id: int, after: int | None = None, before: int | None = None,
    limit: int | None = None, newest: bool = False,
) -> list[LedgerEntry]:  # fmt: skip
    """The case's ledger entries by seq: oldest first, or the newest ``limit`` (still oldest first)."""
    q = select(LedgerEntry).where(LedgerEntry.case_id == case_id)
    return _rows(session, q, LedgerEntry.seq, after=after, before=before, limit=limit, newest=newest)


def ledger_of_case(
    session: Session,
    *,
    case_id: int,
    before: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> list[LedgerEntryPublic]:
    rows = _ledger_rows(session, case_id=case_id, before=before, limit=limit, newest=newest)
    return [LedgerEntryPublic.model_validate(e) for e in rows]


def _ledger_page(
    session: Session, case: Case, *, after: int | None, limit: int
) -> tuple[list[LedgerEntryPublic], str | None]:
    rows = _ledger_rows(session, case_id=case.id, after=after, limit=limit + 1)
    cursor = _encode("ledger_after", rows[limit - 1].seq) if len(rows) > limit else None
    return [LedgerEntryPublic.model_validate(e) for e in rows[:limit]], cursor


def hits_page(
    session: Session, *, principal: Principal, case_id: int, cursor: str | None, limit: int | None
) -> HitsPage:
    """One page of the case's hits, oldest first; the cursor is the last id of the previous page."""
    case = get_case(session, principal=principal, case_id=case_id)
    limit = _page_limit(limit)
    after = _decode(cursor, "hits_after") if cursor else None
    items, next_cursor = _hits_page(session, case, after=after, limit=limit)
    return HitsPage(
        items=items, next_cursor=next_cursor, next=_next_url(case.id, "events", next_cursor, limit)
    )


def ledger_page(
    session: Session, *, principal: Principal, case_id: int, cursor: str | None, limit: int | None
) -> LedgerPage:
    """One page of the case's ledger entries, oldest first."""
    case = get_case(session, principal=principal, case_id=case_id)
    limit = _page_limit(limit)
    after = _decode(cursor, "ledger_after") if cursor else None
    items, next_cursor = _ledger_page(session, case, after=after, limit=limit)
    return LedgerPage(
        items=items, next_cursor=next_cursor, next=_next_url(case.id, "ledger", next_cursor, limit)
    )


def shop_history(session: Session, *, case: Case) -> ShopHistory | None:
    if case.shop_id is None:
        return None
    prior = list(
        session.execute(
            select(Case)
            .where(
                Case.shop_id == case.shop_id,
                Case.id != case.id,
                Case.status.in_(REVIEWED_STATUSES),
                Case.first_seen < case.first_seen,
            )
            .order_by(Case.first_seen)
        ).scalars()
    )
    return ShopHistory(
        prior_cases=[
            PriorCase(id=c.id, status=c.status, violation=c.violation, first_seen=c.first_seen) for c in prior
        ],
        first_offence=not any(c.violation == case.violation for c in prior),
    )


def recorded_basis(session: Session, *, case_id: int) -> LedgerEntry | None:
    """The latest entry that recorded the case's party and legal basis (a review, an export), if any;
    none once that review was reverted (a draft again: the registry's row now)."""
    rows = session.execute(
        select(LedgerEntry)
        .where(
            LedgerEntry.case_id == case_id, LedgerEntry.action.in_((*RECORDING_ACTIONS, "review_reverted"))
        )
        .order_by(LedgerEntry.seq.desc())
    ).scalars()
    for e in rows:
        if e.action == "review_reverted":
            return None
        if "party" in e.payload:
            return e
    return None


def party_and_basis(
    session: Session, *, case: Case, legal: LegalBasisTable
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, LedgerEntry | None]:
    """The party and legal-basis records the case shows: the latest recorded ones, else the registry's
    row and the table's row now (a case not reviewed yet, or reviewed before the ledger recorded them)."""
    entry = recorded_basis(session, case_id=case.id)
    if entry is not None:
        return entry.payload.get("party"), entry.payload.get("legal_basis"), entry
    shop = session.get(Shop, case.shop_id) if case.shop_id else None
    return party_record(shop), legal_record(legal, case.violation), None


def case_detail(
    session: Session,
    *,
    principal: Principal,
    case_id: int,
    legal: LegalBasisTable,
    limit: int | None = DETAIL_PAGE,
) -> CaseDetail:
    """The case with the first ``limit`` hits and ledger entries (``None``: all of them, the export)."""
    case = get_case(session, principal=principal, case_id=case_id)
    party, basis, entry = party_and_basis(session, case=case, legal=legal)
    recorded = None
    if entry is not None:
        recorded = RecordedBasis(
            seq=entry.seq,
            action=entry.action,
            ts=entry.ts,
            legal_basis_id=basis.get("id") if basis else None,
            legal_basis_version=basis.get("version") if basis else None,
        )
    if limit is None:
        hits = hits_of_case(session, case_id=case.id, deadline=case.notice_deadline)
        entries = ledger_of_case(session, case_id=case.id)
        hits_cursor = ledger_cursor = None
    else:
        limit = _page_limit(limit)
        hits, hits_cursor = _hits_page(session, case, after=None, limit=limit)
        entries, ledger_cursor = _ledger_page(session, case, after=None, limit=limit)
    return CaseDetail(
        case=CasePublic.model_validate(case),
        hits=hits,
        party=ShopPublic.model_validate(party) if party is not None else None,
        legal_basis=LegalBasis.model_validate(basis["basis"]) if basis is not None else None,
        shop_history=shop_history(session, case=case),
        ledger=entries,
        recorded=recorded,
        hits_total=len(hits) if limit is None else hits_total(session, case_id=case.id),
        hits_next_cursor=hits_cursor,
        hits_next=_next_url(case.id, "events", hits_cursor, limit or DETAIL_PAGE),
        ledger_total=len(entries) if limit is None else ledger_total(session, case_id=case.id),
        ledger_next_cursor=ledger_cursor,
        ledger_next=_next_url(case.id, "ledger", ledger_cursor, limit or DETAIL_PAGE),
    )
