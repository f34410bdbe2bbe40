"""Signed checkpoints: make one (periodically, on demand, at each export), read the latest, and
check a database against a checkpoint kept elsewhere.

A checkpoint is made under the ledger lock, so its tree size and its ledger head are one instant:
the ledger then holds exactly the ``hit_ingested`` (and ``sample_ingested``) entries of those leaves.
It is stored in ``transparency_checkpoints`` in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.ledger_chain import GENESIS_HASH
from nce.merkle import MerkleTree
from nce.times import utc_ms
from nce.transparency import (
    Checkpoint,
    LogLeaf,
    SignedCheckpoint,
    sign_checkpoint,
)
from service import ledger
from service.models import CheckpointRow, LedgerEntry, LedgerHead, LogLeafRow, utcnow
from service.transparency import log
from service.transparency.key import TransparencyLog


def make(session: Session, tlog: TransparencyLog) -> SignedCheckpoint:
    """Sign the log and the ledger head as they stand in this transaction; store it (no commit)."""
    head = ledger.lock_head(session)
    size = log.size(session)
    with tlog.tree.synced(session) as tree:
        root = tree.root(size)
    checkpoint = Checkpoint(
        log=tlog.origin,
        tree_size=size,
        root_hash=root.hex(),
        ledger_seq=head.seq,
        ledger_head_hash=head.hash,
        time=utc_ms(utcnow()),
    )
    signed = sign_checkpoint(checkpoint, tlog.key)
    session.add(
        CheckpointRow(
            tree_size=size,
            root_hash=checkpoint.root_hash,
            ledger_seq=head.seq,
            ledger_head_hash=head.hash,
            key_fingerprint=signed.signature.key_fingerprint,
            signed=signed.model_dump(mode="json"),
        )
    )
    session.flush()
    return signed


def latest(session: Session) -> SignedCheckpoint | None:
    row = session.execute(
        select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1)
    ).scalar_one_or_none()
    return None if row is None else SignedCheckpoint.model_validate(row.signed)


def periodic(session: Session, tlog: TransparencyLog, *, interval_s: float) -> SignedCheckpoint | None:
    """Make and commit a checkpoint when the last is older than ``interval_s`` and the log or the
    ledger grew since; otherwise None. (Called by the service's sweeper.)"""
    row = session.execute(
        select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1)
    ).scalar_one_or_none()
    if row is not None:
        if utcnow() - row.created_at < dt.timedelta(seconds=interval_s):
            session.rollback()
            return None
        head_seq = session.execute(select(LedgerHead.seq).where(LedgerHead.id == 1)).scalar_one()
        if row.tree_size == log.size(session) and row.ledger_seq == head_seq:
            session.rollback()
            return None
    signed = make(session, tlog)
    session.commit()
    return signed


def check_database(session: Session, signed: SignedCheckpoint) -> list[str]:
    """Why the log or the ledger in this database no longer matches ``signed`` (empty: it does).

    Recomputes every leaf from its fields and the tree from scratch (no cache); finds a truncated or
    rewritten log, and a truncated or rewritten ledger up to the checkpoint's head. The caller
    checks the checkpoint's signature."""
    cp = signed.checkpoint
    problems: list[str] = []
    tree = MerkleTree()
    rows = session.execute(select(LogLeafRow).order_by(LogLeafRow.idx).execution_options(yield_per=1000))
    for row in rows.scalars():
        if row.idx != len(tree):
            problems.append(f"log: leaf {len(tree)} is missing (leaves removed)")
            break
        leaf = LogLeaf(
            device_id=row.device_id,
            sequence=row.sequence,
            manifest_hash=row.manifest_hash,
            received_at=row.received_at,
        )
        if leaf.hash().hex() != row.leaf_hash:
            problems.append(f"log: leaf {row.idx} does not hash to its stored leaf hash (leaf edited)")
        tree.append_hash(leaf.hash())
    if len(tree) < cp.tree_size:
        problems.append(
            f"log truncated: it holds {len(tree)} leaves, the checkpoint of {cp.time} covers {cp.tree_size}"
        )
    elif tree.root(cp.tree_size).hex() != cp.root_hash:
        problems.append(
            f"log rewritten: its first {cp.tree_size} leaves no longer hash to the root of the checkpoint of {cp.time}"
        )
    if cp.ledger_seq == 0:
        if cp.ledger_head_hash != GENESIS_HASH:
            problems.append("checkpoint names ledger seq 0 with a hash that is not the genesis hash")
        return problems
    entry = session.get(LedgerEntry, cp.ledger_seq)
    head_seq = session.execute(select(LedgerHead.seq).where(LedgerHead.id == 1)).scalar_one()
    if entry is None or head_seq < cp.ledger_seq:
        problems.append(
            f"ledger truncated: the checkpoint of {cp.time} covers entry {cp.ledger_seq}, "
            f"the ledger {'lacks it' if entry is None else 'head is at ' + str(head_seq)}"
        )
    elif entry.hash != cp.ledger_head_hash:
        problems.append(
            f"ledger rewritten: entry {cp.ledger_seq} no longer has the hash the checkpoint of {cp.time} signed"
        )
    return problems
