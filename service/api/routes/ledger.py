"""The ledger's integrity: its hash chain, and the tables replayed against it."""

from __future__ import annotations

from fastapi import APIRouter

from service import ledger, ledger_replay
from service.api.deps import LedgerReader, SessionDep
from service.schemas.ledger import DifferencePublic, LedgerStatePublic, LedgerVerifyPublic

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])


@router.get("/verify", response_model=LedgerVerifyPublic, summary="Recompute the chain, replay the cases")
def verify(session: SessionDep, principal: LedgerReader) -> LedgerVerifyPublic:
    """``ok`` false names the first broken entry and why, or the first difference between the tables
    (cases, hits, evidence files, shops) and the ledger's replay."""
    r = ledger.verify(session)
    state = ledger_replay.replay(session)
    return LedgerVerifyPublic(
        ok=r.ok and state.ok,
        entries=r.entries,
        head_hash=r.head_hash,
        first_broken_seq=r.first_broken_seq,
        reason=r.reason if not r.ok else ledger_replay.summary(state),
    )


@router.get("/state", response_model=LedgerStatePublic, summary="Every difference between tables and ledger")
def state(session: SessionDep, principal: LedgerReader) -> LedgerStatePublic:
    """The ledger replayed into the expected state of every case and shop; one line per difference."""
    r = ledger_replay.replay(session)
    return LedgerStatePublic(
        ok=r.ok,
        cases=r.cases,
        packages=r.packages,
        events=r.events,
        shops=r.shops,
        differences=[
            DifferencePublic(
                message=d.message, case_id=d.case_id, shop_id=d.shop_id, seq=d.seq, field=d.field
            )
            for d in r.differences
        ],
        unchecked=r.unchecked,
    )
