"""The ledger's integrity."""

from __future__ import annotations

from fastapi import APIRouter

from service import ledger
from service.api.deps import LedgerReader, SessionDep
from service.schemas.ledger import LedgerVerifyPublic

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])


@router.get("/verify", response_model=LedgerVerifyPublic, summary="Recompute the hash chain")
def verify(session: SessionDep, principal: LedgerReader) -> LedgerVerifyPublic:
    """``ok`` false names the first broken entry and why."""
    r = ledger.verify(session)
    return LedgerVerifyPublic(
        ok=r.ok,
        entries=r.entries,
        head_hash=r.head_hash,
        first_broken_seq=r.first_broken_seq,
        reason=r.reason,
    )
