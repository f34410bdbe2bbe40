"""What changes a case: a person's review and notice, and the deadline clock.

Each locks the case's row (:func:`service.ledger.begin`: the ledger head is locked at the commit),
moves the case through :mod:`service.workflow`, appends the ledger entry and commits. A review records the case's party (the shop registry row now) and the legal basis
it is reviewed under; the case's reads are :mod:`service.crud.cases`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.times import utc_ms
from service import ledger, workflow
from service.auth import Principal
from service.crud import frame_sources, masks
from service.crud.cases import get_case
from service.errors import Invalid
from service.evidence_store import EvidenceStore
from service.legal import LegalBasisTable
from service.masks import MaskRules
from service.models import Case, Shop, utcnow
from service.outbox.events import emit_case_event
from service.outbox.notice import enqueue_notice
from service.schemas.cases import NoticeIn, ReviewIn
from service.snapshots import legal_record, party_record


def review_case(
    session: Session, *, principal: Principal, case_id: int, data: ReviewIn, legal: LegalBasisTable,
    store: EvidenceStore, mask_rules: MaskRules | None = None,
) -> Case:  # fmt: skip
    """Confirm or dismiss a draft (the violation may be corrected on confirm); the ledger entry records
    the party (the shop registry's row now) and the legal basis the case is reviewed under. The case's
    raw stills are labelled in the frame pool (:func:`service.crud.frame_sources.label_from_review`);
    a false detection's dismissal then brings the camera's learned-mask proposals up to date
    (:func:`service.crud.masks.refresh`, with ``mask_rules``: the service's settings). Commits."""
    ledger.begin(session)  # the case's row locked; the ledger head at the commit
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
    shop = session.get(Shop, case.shop_id) if case.shop_id else None
    payload["party"] = party_record(shop)
    payload["legal_basis"] = legal_record(legal, case.violation)
    if data.false_detection:
        payload["false_detection"] = True
    ledger.append(session, actor=principal.actor, action="case_reviewed", case_id=case.id, payload=payload)
    frame_sources.label_from_review(
        session, store=store, case=case, decision=data.decision,
        false_detection=data.false_detection, actor=principal.actor,
    )  # fmt: skip
    if data.false_detection and mask_rules is not None:
        masks.refresh(session, mask_rules, now=now, camera_id=case.camera_id)
    if to == "confirmed":
        emit_case_event(session, case, "confirmed", detail={"reason": data.reason}, at=now)
    session.commit()
    return case


def issue_notice(session: Session, *, principal: Principal, case_id: int, data: NoticeIn) -> Case:
    """A warning with a deadline (责令改正). Its message to the shop is queued in the same transaction
    (an SMS through the notifier; no mobile number on file: to be handed over in person, the case
    flagged ``notice_in_person``), as is the case system's ``notice_issued`` event. Commits."""
    ledger.begin(session)  # the case's row locked; the ledger head at the commit
    case = get_case(session, principal=principal, case_id=case_id, for_update=True)
    now = utcnow()
    if data.deadline <= now:
        raise Invalid(f"deadline: must be in the future (now is {utc_ms(now)})")
    old = workflow.move(case, "notice_issued", now)
    case.notice_issued_at = now
    case.notice_deadline = data.deadline
    shop = session.get(Shop, case.shop_id) if case.shop_id else None
    delivery = enqueue_notice(session, case, shop, data.deadline)
    ledger.append(
        session,
        actor=principal.actor,
        action="notice_issued",
        case_id=case.id,
        payload={"deadline": utc_ms(data.deadline), "note": data.note, "from": old, "to": case.status}
        | delivery,
    )
    emit_case_event(
        session, case, "notice_issued", at=now,
        detail={"deadline": utc_ms(data.deadline), "delivery": delivery["delivery"]},
    )  # fmt: skip
    session.commit()
    return case


def sweep_deadlines(session: Session, *, now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """Settle notice cases whose deadline passed: corrected or escalated. Commits; returns changes.

    The only place a deadline is decided. ``now`` is the server's clock (tests may pass another
    server time; nothing a client sends reaches it)."""
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
    ledger.begin(session)  # each case's row locked; the ledger head at the commit
    for case_id in due:
        case = session.execute(select(Case).where(Case.id == case_id).with_for_update()).scalar_one()
        to = workflow.settle_deadline(case, now=now)
        if to is not None:
            payload: dict[str, Any] = {
                "from": "notice_issued",
                "to": to,
                "deadline": utc_ms(case.notice_deadline or now),
            }
            # the signed evidence it was decided on
            evidence = case.last_seen_after_deadline if to == "escalated" else case.cleared_at
            payload["seen_after_deadline" if to == "escalated" else "cleared_at"] = (
                utc_ms(evidence) if evidence else None
            )
            ledger.append(
                session, actor="system:deadline", action=f"case_{to}", case_id=case.id, payload=payload
            )
            emit_case_event(
                session, case, "escalated" if to == "escalated" else "corrected", at=now, detail=payload
            )
            changed.append((case.id, to))
    session.commit()
    return changed
