"""What ``nce admin webhooks`` shows and does: the outbox's counts per target, and poisoned messages
put back to pending (a ledger entry ``outbound_retried``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service import ledger
from service.models import utcnow
from service.models_outbox import OutboundMessage

STATUSES = ("pending", "delivered", "poisoned")


@dataclass(frozen=True)
class TargetCounts:
    target: str
    kind: str
    pending: int
    delivered: int
    poisoned: int


def counts(session: Session) -> list[TargetCounts]:
    rows = session.execute(
        select(OutboundMessage.target, OutboundMessage.kind, OutboundMessage.status, func.count()).group_by(
            OutboundMessage.target, OutboundMessage.kind, OutboundMessage.status
        )
    ).all()
    by: dict[tuple[str, str], dict[str, int]] = {}
    for target, kind, status, n in rows:
        by.setdefault((target, kind), dict.fromkeys(STATUSES, 0))[status] = int(n)
    return [
        TargetCounts(t, k, c["pending"], c["delivered"], c["poisoned"]) for (t, k), c in sorted(by.items())
    ]


def retry_poisoned(session: Session, *, target: str | None, actor: str) -> int:
    """Poisoned messages (of ``target``, or all) back to pending with fresh counts. Commits."""
    ledger.lock_head(session)
    where = [OutboundMessage.status == "poisoned"]
    if target is not None:
        where.append(OutboundMessage.target == target)
    q = (
        update(OutboundMessage)
        .where(*where)
        .values(status="pending", attempts=0, refusals=0, next_at=utcnow(), last_error=None)
    )
    n = int(session.execute(q).rowcount or 0)  # type: ignore[attr-defined]
    if n:
        ledger.append(session, actor=actor, action="outbound_retried", case_id=None,
                      payload={"target": target or "*", "count": n})  # fmt: skip
    session.commit()
    return n
