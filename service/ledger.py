"""The hash-chained ledger (全过程记录): every ingest, review, notice, state change and export.

Each entry is ``{seq, ts, actor, action, case_id, payload_hash, prev_hash, hash}`` where
``payload_hash = sha256(canonical(payload))`` and ``hash = sha256(canonical(entry without hash))``;
the first entry's ``prev_hash`` is 64 zeros. An entry about a case also carries the case's state
after it (``payload["case"]``, :func:`service.snapshots.case_state`), so that
:mod:`service.ledger_replay` can check the tables against the ledger. Appends lock the one ``ledger_head`` row, so the chain
stays linear under concurrent writers on PostgreSQL as on SQLite (and across replicas).

Two ways to hold the lock. A transaction begun with :func:`begin` (the ingest, reviews, the deadline
sweep) writes its own rows under their own row locks (the device, the case) and *stages* its
entries (:func:`append`) and any row that must follow the ledger's order (:func:`under_lock`: the
transparency log's leaf); at its commit the head is locked, the staged rows, the entries and the
new head are written (the entries and the head in one statement on PostgreSQL) and the transaction
commits: the lock covers those few statements and the COMMIT only. Whoever locks rows takes the
head last. The other writers call :func:`lock_head` first and hold it for their whole transaction
(rare, administrative writes that rely on it as one writer at a time). A session whose ``info``
has a :data:`LOCK_TIMER` reports how long it waited for the lock and how long it held it (to its
commit or rollback). :func:`verify` recomputes the
chain and names the first broken entry. The hashing itself is :mod:`nce.ledger_chain` (an auditor
recomputes exported entries with it).
Its canonical form is named :data:`LEDGER_HASH_FORM` (docs/api.md, "The ledger's hash form").
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Insert, event, insert, inspect, select, update
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

# the hashing contract lives in nce.ledger_chain (auditors recompute exported entries); re-exported
from nce.ledger_chain import GENESIS_HASH as GENESIS_HASH
from nce.ledger_chain import LEDGER_HASH_FORM as LEDGER_HASH_FORM
from nce.ledger_chain import canonical as canonical
from nce.ledger_chain import entry_hash as entry_hash
from nce.ledger_chain import sha256_hex as sha256_hex
from service.db import begin_write
from service.models import Case, LedgerEntry, LedgerHead, utcnow
from service.snapshots import case_state

LOCK_TIMER = "nce_ledger_lock_timer"  # session.info key: a LockTimer (the app's metrics)
_LOCKED = "nce_ledger_locked"  # session.info key: (the locked head, when it was taken)
_LATE = "nce_ledger_late"  # session.info key: the transaction locks the head at its commit
_STAGED = "nce_ledger_staged"  # session.info key: what waits for the head: entries and writers
_CASES = inspect(Case)
_HELD = "nce_ledger_held"  # session.info key: the staged entries' cases, referenced until the commit


class LockTimer(Protocol):
    def waited(self, seconds: float) -> None: ...

    def held(self, seconds: float) -> None: ...


def lock_head(session: Session) -> LedgerHead:
    """Begin the write transaction and lock the ledger head for it (``SELECT … FOR UPDATE``; SQLite:
    ``BEGIN IMMEDIATE``). Call it before anything else that the transaction decides on, and after
    everything that needs no lock (signature checks, hashing, file I/O). Taken once a transaction:
    a second call returns the head already locked, without another round trip. In a :func:`begin`
    transaction (called by its commit, or by whoever needs the head now) the transaction's rows are
    flushed and its staged entries prepared before the lock, and written right after it."""
    locked = session.info.get(_LOCKED)
    if locked is not None and session.in_transaction():
        head: LedgerHead = locked[0]
        return head
    begin_write(session)
    staged = session.info.pop(_STAGED, None)
    if staged:
        session.flush()  # the transaction's rows go first, before the lock
        prepared = [_prepared(session, *entry) for entry in staged if isinstance(entry, tuple)]
    asked = time.perf_counter()
    head = session.execute(select(LedgerHead).where(LedgerHead.id == 1).with_for_update()).scalar_one()
    taken = time.perf_counter()
    session.info[_LOCKED] = (head, taken)
    timer: LockTimer | None = session.info.get(LOCK_TIMER)
    if timer is not None:
        timer.waited(taken - asked)
    if staged:
        _write_staged(session, head, [row for row in staged if isinstance(row, Insert)], prepared)
    return head


def begin(session: Session) -> None:
    """Begin a write transaction that locks the head only at its commit (or at a :func:`lock_head`
    someone calls in it): its :func:`append` and :func:`under_lock` rows wait for the head, in order.
    Lock the rows the transaction decides on (the device, the case) with ``FOR UPDATE`` in it."""
    begin_write(session)
    session.info[_LATE] = True


def under_lock(session: Session, row: Insert) -> None:
    """Insert ``row`` (a row that must follow the ledger's order, computed in the INSERT) under the
    head lock: now if the transaction holds it, else at its commit, in the statement of its ledger
    entries (PostgreSQL)."""
    if session.info.get(_LOCKED) is None and session.info.get(_LATE):
        session.info.setdefault(_STAGED, []).append(row)
        return
    lock_head(session)
    session.execute(row)


def _commit_staged(session: Session) -> None:
    if session.info.get(_STAGED):
        lock_head(session)


event.listen(Session, "before_commit", _commit_staged)


@dataclass(frozen=True)
class _Prepared:
    entry: LedgerEntry
    payload: dict[str, Any]
    payload_hash: str


def _prepared(session: Session, entry: LedgerEntry, payload: dict[str, Any]) -> _Prepared:
    """A staged entry's payload, with its case's state as the transaction leaves it, and its hash
    (computed before the lock)."""
    case = session.get(Case, entry.case_id) if entry.case_id is not None else None
    if case is not None:
        payload = {**payload, "case": case_state(case)}
    return _Prepared(entry, payload, sha256_hex(canonical(payload)))


def _chained(p: _Prepared, *, seq: int, ts: dt.datetime, prev: str) -> dict[str, Any]:
    """``p``'s entry as number ``seq`` after ``prev``: its columns, hashed and set on the entry."""
    digest = entry_hash(seq=seq, ts=ts, actor=p.entry.actor, action=p.entry.action,
                        case_id=p.entry.case_id, payload_hash=p.payload_hash, prev_hash=prev)  # fmt: skip
    values = {"seq": seq, "ts": ts, "actor": p.entry.actor, "action": p.entry.action,
              "case_id": p.entry.case_id, "payload": p.payload, "payload_hash": p.payload_hash,
              "prev_hash": prev, "hash": digest}  # fmt: skip
    for name, value in values.items():
        setattr(p.entry, name, value)
    return values


def _write_staged(
    session: Session, head: LedgerHead, inserts: list[Insert], prepared: list[_Prepared]
) -> None:
    """The staged rows, the staged entries chained after ``head`` and the new head: one statement on
    PostgreSQL (the INSERTs in the WITH of the head's UPDATE), one each on SQLite."""
    if not prepared:
        for row in inserts:
            session.execute(row)
        return
    ts = utcnow()
    seq, prev = head.seq, head.hash
    rows = []
    for p in prepared:
        seq += 1
        rows.append(_chained(p, seq=seq, ts=ts, prev=prev))
        prev = rows[-1]["hash"]
    move = update(LedgerHead).where(LedgerHead.id == 1).values(seq=seq, hash=prev)
    move = move.execution_options(synchronize_session=False)  # the head object: set below
    if session.get_bind().dialect.name == "postgresql":
        # one single-row INSERT per row (a multi-row VALUES is compiled anew each time, under the lock)
        ctes = [row.cte(f"staged_{i}") for i, row in enumerate(inserts)]
        ctes += [insert(LedgerEntry).values(**row).cte(f"entry_{i}") for i, row in enumerate(rows)]
        session.execute(move.add_cte(*ctes))
    else:
        for row in inserts:
            session.execute(row)
        session.execute(insert(LedgerEntry), rows)
        session.execute(move)
    set_committed_value(head, "seq", seq)
    set_committed_value(head, "hash", prev)


def _released(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a savepoint or a subtransaction: the lock is still held
        return
    locked = session.info.pop(_LOCKED, None)
    session.info.pop(_LATE, None)
    session.info.pop(_STAGED, None)
    session.info.pop(_HELD, None)
    timer: LockTimer | None = session.info.get(LOCK_TIMER)
    if locked is not None and timer is not None:
        timer.held(time.perf_counter() - locked[1])


event.listen(Session, "after_transaction_end", _released)  # commit, rollback or close


def append(
    session: Session, *, actor: str, action: str, case_id: int | None, payload: dict[str, Any]
) -> LedgerEntry:
    """Append one entry in the caller's transaction. An entry about a case records the case's state as
    it stands now, after the caller's changes (``payload["case"]``). In a transaction begun with
    :func:`begin` that does not hold the head yet, the entry is staged: written, and its ``seq``,
    ``ts`` and hashes filled in, when the head is locked (at the commit); the case's state is then
    the one the transaction commits."""
    if session.info.get(_LOCKED) is None and session.info.get(_LATE):
        entry = LedgerEntry(actor=actor, action=action, case_id=case_id, payload=payload)
        session.info.setdefault(_STAGED, []).append((entry, payload))
        if case_id is not None:
            # the session references unchanged rows weakly: once the caller drops its case (flushed,
            # so unchanged), the commit's _prepared would read it again (one more SELECT under no
            # lock, but a round trip). Held here until the transaction ends, it is found in the
            # identity map, with every change the transaction made to it.
            case = session.identity_map.get(_CASES.identity_key_from_primary_key((case_id,)))
            if case is not None:
                session.info.setdefault(_HELD, []).append(case)
        return entry
    head = lock_head(session)
    entry = LedgerEntry(actor=actor, action=action, case_id=case_id, payload=payload)
    seq = head.seq + 1
    digest = _chained(_prepared(session, entry, payload), seq=seq, ts=utcnow(), prev=head.hash)["hash"]
    session.add(entry)
    head.seq = seq
    head.hash = digest
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None


def _entries(session: Session, after: int = 0) -> Iterator[LedgerEntry]:
    yield from session.execute(
        select(LedgerEntry)
        .where(LedgerEntry.seq > after)
        .order_by(LedgerEntry.seq)
        .execution_options(yield_per=500)
    ).scalars()


def verify(session: Session, *, since: VerifyResult | None = None) -> VerifyResult:
    """Recompute every entry's payload hash and chain hash; stop at the first broken entry. ``since``:
    an intact result of an earlier run, taken as it is: only the entries after its last one are
    checked, chained from its head hash (entries edited before it are not seen: run it whole too)."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    if since is not None and since.ok:
        prev, expected_seq, count = since.head_hash, since.entries + 1, since.entries
    for e in _entries(session, after=count):
        reason = None
        if e.seq != expected_seq:
            reason = f"sequence jumps from {expected_seq - 1} to {e.seq} (entries removed or reordered)"
        elif sha256_hex(canonical(e.payload)) != e.payload_hash:
            reason = "payload does not match its payload_hash (payload edited)"
        elif e.prev_hash != prev:
            reason = "prev_hash does not match the previous entry's hash"
        elif (
            entry_hash(
                seq=e.seq,
                ts=e.ts,
                actor=e.actor,
                action=e.action,
                case_id=e.case_id,
                payload_hash=e.payload_hash,
                prev_hash=e.prev_hash,
            )
            != e.hash
        ):
            reason = "hash does not match the entry's fields (entry edited)"
        if reason is not None:
            return VerifyResult(
                False,
                count,
                prev,
                first_broken_seq=e.seq if e.seq == expected_seq else expected_seq,
                reason=reason,
            )
        prev = e.hash
        expected_seq += 1
        count += 1
    head = session.execute(select(LedgerHead).where(LedgerHead.id == 1)).scalar_one()
    if head.seq != count or head.hash != prev:
        return VerifyResult(
            False,
            count,
            prev,
            first_broken_seq=count + 1 if head.seq > count else count,
            reason=f"ledger head says seq {head.seq}, the chain ends at {count} (entries removed at the end)",
        )
    return VerifyResult(True, count, prev)


def entries_for_case(session: Session, case_id: int) -> list[LedgerEntry]:
    return list(
        session.execute(
            select(LedgerEntry).where(LedgerEntry.case_id == case_id).order_by(LedgerEntry.seq)
        ).scalars()
    )
