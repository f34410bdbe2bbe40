"""The transparency log: signed checkpoints, consistency proofs and the service key.

The GETs are open (no credentials), like ``/healthz``: a checkpoint holds only sizes and hashes,
and it is meant to be published — copies kept by others are what make a later rewrite visible.
Making a checkpoint on demand is for supervisors and admins (the ledger's readers).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from nce.manifest import key_fingerprint, public_key_b64
from nce.transparency import ConsistencyProof, SignedCheckpoint
from service.api.deps import LedgerReader, SessionDep, StateDep
from service.errors import NotFound
from service.transparency import checkpoints, log

router = APIRouter(prefix="/api/v1/transparency", tags=["transparency"])

Size = Annotated[int, Query(ge=0, le=2**31 - 1)]


class ServiceKeyPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    algorithm: str = "Ed25519"
    public_key: str
    fingerprint: str
    log: str


@router.get("/checkpoint", response_model=SignedCheckpoint, summary="The latest signed checkpoint")
def latest_checkpoint(session: SessionDep) -> SignedCheckpoint:
    """404 until the first one is made (periodically, on demand, or by an export)."""
    signed = checkpoints.latest(session)
    if signed is None:
        raise NotFound("no checkpoint yet")
    return signed


@router.post("/checkpoint", response_model=SignedCheckpoint, status_code=201, summary="Make a checkpoint now")
def make_checkpoint(state: StateDep, session: SessionDep, principal: LedgerReader) -> SignedCheckpoint:
    del principal
    signed = checkpoints.make(session, state.transparency)
    session.commit()
    return signed


@router.get(
    "/consistency",
    response_model=ConsistencyProof,
    summary="Proof that the tree of `first` leaves is a prefix of the tree of `second` leaves",
)
def consistency(state: StateDep, session: SessionDep, first: Size, second: Size) -> ConsistencyProof:
    return log.consistency_proof(session, state.transparency.tree, first=first, second=second)


@router.get("/key", response_model=ServiceKeyPublic, summary="The service key that signs checkpoints")
def service_key(state: StateDep) -> ServiceKeyPublic:
    """Compare ``fingerprint`` with the one the bureau publishes (``nce ledger publish-key``)."""
    pub = state.transparency.key.public_key()
    return ServiceKeyPublic(
        public_key=public_key_b64(pub), fingerprint=key_fingerprint(pub), log=state.transparency.origin
    )
