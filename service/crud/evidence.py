"""Evidence files: which one a principal may read."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth import Principal
from service.errors import NotFound
from service.models import Case, EvidenceFile, HitEventRow


def evidence_for(session: Session, *, principal: Principal, sha256: str) -> EvidenceFile:
    """The evidence row for ``sha256`` that ``principal`` may read: through a case it may see (a
    case system sees confirmed cases only), or, for people, a package not (yet) in a case."""
    rows = session.execute(
        select(EvidenceFile, Case.status)
        .join(HitEventRow, HitEventRow.id == EvidenceFile.event_id)
        .join(Case, Case.id == HitEventRow.case_id, isouter=True)
        .where(EvidenceFile.sha256 == sha256)
    ).all()
    for f, status in rows:
        if status is None:
            if principal.role != "case_system":
                return f
        elif principal.may_see_status(status):
            return f
    raise NotFound(f"evidence {sha256} not found")
