"""The log's leaves: append one per accepted package, keep the tree in memory, make proofs.

Appends run in the caller's transaction under the ledger lock (:func:`service.ledger.under_lock`: a
row lock on PostgreSQL, the writer lock and ``BEGIN IMMEDIATE`` on SQLite), so leaf indexes are given out one at
a time without gaps, and a rolled-back ingest leaves no leaf. Leaves are never updated or deleted.

:class:`TreeCache` keeps a :class:`~nce.merkle.MerkleTree` of the committed leaves and reads only the
new ones on each use; if the last leaf it holds is no longer the database's (a restored or emptied
database), it starts again from the first leaf.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from nce.manifest import Manifest
from nce.merkle import MerkleTree, hex_list
from nce.times import utc_ms
from nce.transparency import ConsistencyProof, InclusionProof, LogLeaf
from service import ledger
from service.errors import Invalid, ServiceError
from service.models import LogLeafRow, utcnow


class LogBroken(ServiceError):
    """The log's table is not an unbroken sequence of leaves (someone edited the database)."""

    status_code = 500


def append(session: Session, *, manifest: Manifest, manifest_hash: str) -> None:
    """Log an accepted package as the next leaf, in the caller's transaction, under the ledger's head
    lock (:func:`service.ledger.under_lock`: at the commit of a transaction begun with
    :func:`service.ledger.begin`); one statement (the index is the next after the largest, computed
    in the INSERT)."""
    leaf = LogLeaf(
        device_id=manifest.device_id,
        sequence=manifest.sequence,
        manifest_hash=manifest_hash,
        received_at=utc_ms(utcnow()),
    )
    following = select(func.coalesce(func.max(LogLeafRow.idx) + 1, 0)).scalar_subquery()
    row = insert(LogLeafRow).values(
        idx=following,
        leaf_hash=leaf.hash().hex(),
        device_id=leaf.device_id,
        sequence=leaf.sequence,
        manifest_hash=leaf.manifest_hash,
        received_at=leaf.received_at,
    )
    ledger.under_lock(session, row)


def size(session: Session) -> int:
    """How many leaves the log holds, as this transaction sees it."""
    last = session.execute(select(func.max(LogLeafRow.idx))).scalar_one()
    return 0 if last is None else int(last) + 1


def leaf_of(row: LogLeafRow) -> LogLeaf:
    return LogLeaf(
        device_id=row.device_id,
        sequence=row.sequence,
        manifest_hash=row.manifest_hash,
        received_at=row.received_at,
    )


def leaves_for(session: Session, manifest_hashes: Iterable[str]) -> dict[str, LogLeafRow]:
    """The leaves of these manifests, by manifest hash (absent ones are missing from the dict)."""
    wanted = sorted(set(manifest_hashes))
    if not wanted:
        return {}
    rows = session.execute(select(LogLeafRow).where(LogLeafRow.manifest_hash.in_(wanted))).scalars()
    return {r.manifest_hash: r for r in rows}


class TreeCache:
    """The committed leaves as a :class:`~nce.merkle.MerkleTree`, shared by a process's requests."""

    def __init__(self) -> None:
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    @contextmanager
    def synced(self, session: Session) -> Iterator[MerkleTree]:
        """The tree with every leaf the session sees (and maybe newer ones: pass sizes explicitly)."""
        with self._lock:
            self._sync(session)
            yield self._tree

    def _sync(self, session: Session) -> None:
        n = len(self._tree)
        if n:
            last = session.execute(
                select(LogLeafRow.leaf_hash).where(LogLeafRow.idx == n - 1)
            ).scalar_one_or_none()
            if last is None or bytes.fromhex(last) != self._tree.leaf_hash(n - 1):
                self._tree = MerkleTree()
        rows = session.execute(
            select(LogLeafRow.idx, LogLeafRow.leaf_hash)
            .where(LogLeafRow.idx >= len(self._tree))
            .order_by(LogLeafRow.idx)
        )
        new: list[bytes] = []
        for idx, leaf_hash in rows:
            if idx != len(self._tree) + len(new):
                raise LogBroken(
                    f"transparency log: leaf {len(self._tree) + len(new)} is missing (next is {idx})"
                )
            new.append(bytes.fromhex(leaf_hash))
        self._tree.extend(new)


def inclusion_proof(tree: MerkleTree, row: LogLeafRow, tree_size: int) -> InclusionProof:
    return InclusionProof(
        leaf_index=row.idx,
        tree_size=tree_size,
        leaf=leaf_of(row),
        audit_path=hex_list(tree.inclusion_proof(row.idx, tree_size)),
    )


def consistency_proof(session: Session, cache: TreeCache, *, first: int, second: int) -> ConsistencyProof:
    """That the first ``first`` leaves are a prefix of the first ``second``; :class:`Invalid` if the
    sizes are out of order or beyond the log."""
    held = size(session)
    if not 0 <= first <= second:
        raise Invalid(f"first ({first}) must be at most second ({second})")
    if second > held:
        raise Invalid(f"second ({second}) is beyond the log's size ({held})")
    with cache.synced(session) as tree:
        proof = tree.consistency_proof(first, second)
    return ConsistencyProof(first=first, second=second, proof=hex_list(proof))
