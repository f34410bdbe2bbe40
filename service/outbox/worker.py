"""The outbox worker: take due messages, send them, record what happened.

One pass (:func:`run_once`):

1. **claim** due pending rows in one short write transaction: on PostgreSQL ``SELECT … FOR UPDATE
   SKIP LOCKED`` (replicas never take the same row), on SQLite a plain select inside the one writer's
   ``BEGIN IMMEDIATE``; each claimed row's ``attempts`` goes up and its ``next_at`` moves past the
   pass (a lease: a worker that dies mid-send leaves its rows to be taken again after it);
2. **send** each outside any transaction (:func:`service.outbox.send.send`);
3. **record** each answer in its own transaction, only if the row is still the one claimed:
   delivered; a refusal (poisoned after ``outbound_max_refusals``); a retry after a backoff of
   ``base · 2^(attempt-1)`` capped at ``outbound_backoff_max_s``, with jitter (a random half of it
   added to the other half: :attr:`Policy.backoff`, :mod:`nce.backoff`), poisoned after
   ``outbound_max_attempts``.

A notice's SMS sent or given up is a ledger entry about its case (``notice_sent``,
``notice_send_failed``); so is a webhook to the case system about a case, once delivered or given up
(``webhook_delivered``, ``webhook_failed``: which case event, the answer, the attempts), written in the
same transaction as the outbox row's new status. Retries stay in the outbox only (``nce admin
webhooks status``).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from nce.backoff import Backoff
from service import ledger
from service.db import begin_write
from service.errors import ServiceError
from service.models import utcnow
from service.models_outbox import OutboundMessage
from service.outbox.config import Integrations
from service.outbox.send import Message, Outcome, send
from service.settings import Settings

log = logging.getLogger(__name__)
LEASE_MARGIN_S = 60.0
LEDGER_KINDS = ("sms", "webhook")  # messages whose end is a ledger entry on their case
_RNG = random.Random()


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 20
    max_refusals: int = 3
    backoff_base_s: float = 2.0
    backoff_max_s: float = 900.0
    timeout_s: float = 10.0
    batch: int = 20

    @classmethod
    def of(cls, s: Settings) -> Policy:
        return cls(
            s.outbound_max_attempts, s.outbound_max_refusals, s.outbound_backoff_base_s,
            s.outbound_backoff_max_s, s.outbound_timeout_s, s.outbound_batch,
        )  # fmt: skip

    @property
    def backoff(self) -> Backoff:
        """The wait after the ``n``-th failed send: the capped doubling step, jittered downwards only
        (between half of it and all of it: messages failed together do not come back together)."""
        return Backoff(base_s=self.backoff_base_s, cap_s=self.backoff_max_s, jitter=0.5, below_only=True)

    @property
    def lease_s(self) -> float:
        """Long enough for every send of one pass."""
        return self.timeout_s * self.batch + LEASE_MARGIN_S


def claim(session: Session, policy: Policy, now: dt.datetime) -> list[Message]:
    begin_write(session)
    rows = (
        session.execute(
            select(OutboundMessage)
            .where(OutboundMessage.status == "pending", OutboundMessage.next_at <= now)
            .order_by(OutboundMessage.next_at, OutboundMessage.id)
            .limit(policy.batch)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    out = []
    for r in rows:
        r.attempts += 1
        r.next_at = now + dt.timedelta(seconds=policy.lease_s)
        out.append(Message(r.id, r.kind, r.target, r.event, r.message_id, r.case_id, r.body, r.attempts))
    session.commit()
    return out


def _ledger(session: Session, m: Message, action: str, payload: dict[str, Any]) -> None:
    sender = "notifier" if m.kind == "sms" else "webhook"
    ledger.append(session, actor=f"system:{sender}:{m.target}", action=action, case_id=m.case_id,
                  payload={"message_id": m.message_id, **payload})  # fmt: skip


def _final_entry(
    m: Message, outcome: Outcome, attempts: int, *, delivered: bool
) -> tuple[str, dict[str, Any]]:
    """The ledger entry a message's end writes on its case: the notice's SMS or a webhook."""
    if m.kind == "sms":
        if delivered:
            return "notice_sent", {"channel": outcome.channel, "status_code": outcome.status}
        return "notice_send_failed", {
            "channel": outcome.channel, "status_code": outcome.status, "error": outcome.error,
            "attempts": attempts,
        }  # fmt: skip
    about = {"case_event": m.event, "status_code": outcome.status, "attempts": attempts}
    if delivered:
        return "webhook_delivered", about
    return "webhook_failed", {**about, "error": outcome.error}


def record(session: Session, m: Message, outcome: Outcome, policy: Policy, now: dt.datetime) -> str:
    """Write the answer to ``m``; returns the row's status after it (``stale``: the row moved on)."""
    notes_ledger = m.kind in LEDGER_KINDS and m.case_id is not None
    if notes_ledger:
        ledger.lock_head(session)
    else:
        begin_write(session)
    row = session.execute(
        select(OutboundMessage).where(OutboundMessage.id == m.id).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.status != "pending" or row.attempts != m.attempts:
        session.rollback()
        return "stale"
    row.last_status = outcome.status
    row.last_error = outcome.error
    poisoned = False
    if outcome.result == "delivered":
        row.status = "delivered"
        row.delivered_at = now
        if notes_ledger:
            _ledger(session, m, *_final_entry(m, outcome, row.attempts, delivered=True))
    else:
        if outcome.result in ("refused", "unconfigured"):
            row.refusals += 1
        poisoned = (
            outcome.result == "unconfigured"
            or row.refusals >= policy.max_refusals
            or row.attempts >= policy.max_attempts
        )
        if poisoned:
            row.status = "poisoned"
            if notes_ledger:
                _ledger(session, m, *_final_entry(m, outcome, row.attempts, delivered=False))
        else:
            row.next_at = now + dt.timedelta(seconds=policy.backoff.delay(row.attempts, _RNG))
    session.commit()
    if poisoned:
        log.warning("outbox: %s %s to %s poisoned after %s attempts: %s",
                    m.kind, m.message_id, m.target, row.attempts, outcome.error)  # fmt: skip
    return row.status


def run_once(
    sessions: sessionmaker[Session], integrations: Integrations, policy: Policy, client: httpx.Client,
    *, now: dt.datetime | None = None,
) -> Counter[str]:  # fmt: skip
    """One pass; returns how many messages ended in each status (``pending``: to be retried)."""
    with sessions() as session:
        claimed = claim(session, policy, now or utcnow())
    done: Counter[str] = Counter()
    for m in claimed:
        outcome = send(client, integrations, m, timeout_s=policy.timeout_s)
        with sessions() as session:
            done[record(session, m, outcome, policy, now or utcnow())] += 1
    return done


def drain(
    sessions: sessionmaker[Session], integrations: Integrations, policy: Policy, client: httpx.Client
) -> Counter[str]:
    """Passes until a pass finds nothing due (tests, ``nce admin webhooks``)."""
    total: Counter[str] = Counter()
    while done := run_once(sessions, integrations, policy, client):
        total.update(done)
    return total


def loop(
    sessions: sessionmaker[Session], integrations: Integrations, policy: Policy, interval_s: float,
    stop: threading.Event,
) -> None:  # fmt: skip
    """The worker thread of ``nce serve``: a pass every ``interval_s`` (at once again while busy)."""
    with httpx.Client() as client:
        while True:
            busy = False
            try:
                busy = bool(run_once(sessions, integrations, policy, client))
            except (SQLAlchemyError, ServiceError):
                log.exception("outbox pass failed")
            if stop.wait(0 if busy else interval_s) or stop.is_set():
                return
