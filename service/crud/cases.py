"""Cases: list, detail, review, notice, deadlines."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nce.bounds import INT32_MAX
from nce.times import utc_ms
from service import ledger, workflow
from service.auth import CASE_SYSTEM_STATUSES, Principal
from service.errors import Invalid, NotFound
from service.legal import LegalBasisTable
from service.models import Case, EvidenceFile, HitEventRow, Shop, utcnow
from service.schemas.cases import (
    CaseDetail,
    CasePublic,
    HitPublic,
    NoticeIn,
    PriorCase,
    ReviewIn,
    ShopHistory,
)
from service.schemas.hits import EvidenceFilePublic
from service.schemas.ledger import LedgerEntryPublic
from service.schemas.shops import ShopPublic

MAX_PAGE = 200


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    violation: str | None = None
    camera_id: str | None = None
    shop_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def encode_cursor(case_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": case_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)["before"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Invalid("cursor: not a cursor this service issued") from exc
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= INT32_MAX:
        raise Invalid("cursor: not a cursor this service issued")
    return value


def _visible(query: Select[Case], principal: Principal) -> Select[Case]:
    if principal.role == "case_system":
        return query.where(Case.status.in_(sorted(CASE_SYSTEM_STATUSES)))
    return query


def list_cases(
    session: Session, *, principal: Principal, flt: CaseFilter, cursor: str | None, limit: int
) -> tuple[list[Case], str | None]:
    """Newest first (by id); the cursor is the last id of the previous page."""
    limit = max(1, min(limit, MAX_PAGE))
    q = _visible(select(Case), principal)
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
    if cursor:
        q = q.where(Case.id < decode_cursor(cursor))
    rows = list(session.execute(q.order_by(Case.id.desc()).limit(limit + 1)).scalars())
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


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


def hits_of_case(session: Session, *, case_id: int, deadline: dt.datetime | None = None) -> list[HitPublic]:
    """The case's hit events, oldest first; those after ``deadline`` (the notice's) are marked."""
    events = list(
        session.execute(
            select(HitEventRow).where(HitEventRow.case_id == case_id).order_by(HitEventRow.id)
        ).scalars()
    )
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
            signed=e.manifest_hash is not None,
            after_deadline=deadline is not None and e.ts > deadline,
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


def shop_history(session: Session, *, case: Case) -> ShopHistory | None:
    if case.shop_id is None:
        return None
    prior = list(
        session.execute(
            select(Case)
            .where(
                Case.shop_id == case.shop_id,
                Case.id != case.id,
                Case.status.in_(sorted(CASE_SYSTEM_STATUSES)),
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


def case_detail(
    session: Session, *, principal: Principal, case_id: int, legal: LegalBasisTable
) -> CaseDetail:
    case = get_case(session, principal=principal, case_id=case_id)
    shop = session.get(Shop, case.shop_id) if case.shop_id else None
    return CaseDetail(
        case=CasePublic.model_validate(case),
        hits=hits_of_case(session, case_id=case.id, deadline=case.notice_deadline),
        party=ShopPublic.model_validate(shop) if shop is not None else None,
        legal_basis=legal.for_violation(case.violation),
        shop_history=shop_history(session, case=case),
        ledger=[LedgerEntryPublic.model_validate(e) for e in ledger.entries_for_case(session, case.id)],
    )


def review_case(session: Session, *, principal: Principal, case_id: int, data: ReviewIn) -> Case:
    """Confirm or dismiss a draft (the violation may be corrected on confirm). Commits."""
    ledger.lock_head(session)
    case = get_case(session, principal=principal, case_id=case_id, for_update=True)
    now = utcnow()
    to = "confirmed" if data.decision == "confirm" else "dismissed"
    old = workflow.move(case, to, now)
    payload: dict[str, Any] = {"decision": data.decision, "reason": data.reason, "from": old, "to": to}
    if data.violation is not None and data.violation != case.violation:
        if data.decision != "confirm":
            raise Invalid("violation: may only be corrected when confirming")
        payload["violation"] = {"from": case.violation, "to": str(data.violation)}
        case.original_violation = case.original_violation or case.violation
        case.violation = str(data.violation)
    case.reviewed_by = principal.name
    case.reviewed_at = now
    case.review_reason = data.reason
    ledger.append(session, actor=principal.actor, action="case_reviewed", case_id=case.id, payload=payload)
    session.commit()
    return case


def issue_notice(session: Session, *, principal: Principal, case_id: int, data: NoticeIn) -> Case:
    """A warning with a deadline (责令改正). Commits."""
    ledger.lock_head(session)
    case = get_case(session, principal=principal, case_id=case_id, for_update=True)
    now = utcnow()
    if data.deadline <= now:
        raise Invalid(f"deadline: must be in the future (now is {utc_ms(now)})")
    old = workflow.move(case, "notice_issued", now)
    case.notice_issued_at = now
    case.notice_deadline = data.deadline
    ledger.append(
        session,
        actor=principal.actor,
        action="notice_issued",
        case_id=case.id,
        payload={"deadline": utc_ms(data.deadline), "note": data.note, "from": old, "to": case.status},
    )
    session.commit()
    return case


def sweep_deadlines(session: Session, *, now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """Settle notice cases whose deadline passed: corrected or escalated. Commits; returns changes."""
    now = now or utcnow()
    due = list(
        session.execute(
            select(Case.id).where(Case.status == "notice_issued", Case.notice_deadline <= now)
        ).scalars()
    )
    changed: list[tuple[int, str]] = []
    if not due:
        session.rollback()
        return changed
    ledger.lock_head(session)
    for case_id in due:
        case = session.execute(select(Case).where(Case.id == case_id).with_for_update()).scalar_one()
        to = workflow.settle_deadline(case, now=now)
        if to is not None:
            ledger.append(
                session,
                actor="system:deadline",
                action=f"case_{to}",
                case_id=case.id,
                payload={
                    "from": "notice_issued",
                    "to": to,
                    "deadline": utc_ms(case.notice_deadline or now),
                },
            )
            changed.append((case.id, to))
    session.commit()
    return changed
