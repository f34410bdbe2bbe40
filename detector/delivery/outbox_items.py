"""What the outbox holds and shows: its items, the service's answers, ``nce outbox status --json``.

An :class:`OutboxItem` is one row of the outbox (:mod:`detector.delivery.outbox`), an
:class:`Answer` the service's HTTP answer to it as the row keeps it; :class:`OutboxStatus` (with
:class:`PoisonedItem`) is what ``nce outbox status --json`` prints.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ItemKind = Literal["event", "package"]
ItemStatus = Literal["pending", "delivered", "poisoned"]

ANSWER_BODY_MAX = 2000  # characters of an answer's body the outbox keeps


@dataclass(frozen=True)
class Answer:
    """The service's HTTP answer to an item, as the outbox keeps it: the status, the body's first
    :data:`ANSWER_BODY_MAX` characters, and the SHA-256 of the whole body (two answers are the same
    when their status and digest are)."""

    status: int
    body: str
    digest: str

    @classmethod
    def of(cls, status: int, body: str) -> Answer:
        digest = hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()
        return cls(status, body[:ANSWER_BODY_MAX], digest)

    def same_as(self, other: Answer | None) -> bool:
        return other is not None and (self.status, self.digest) == (other.status, other.digest)


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    device_id: str
    kind: ItemKind
    hit_id: str
    event: str
    payload: dict[str, Any]
    package_dir: Path | None
    created_at: float
    status: ItemStatus
    attempts: int
    next_attempt_at: float
    last_error: str | None
    epoch: str = ""
    answer: Answer | None = None  # the service's last answer (kept while retrying and when poisoned)
    answer_repeats: int = 0  # how many times in a row the service gave that answer (counted 5xx)

    @property
    def idempotency_key(self) -> str:
        if not self.epoch:
            return f"{self.device_id}:{self.seq}"
        return f"{self.device_id}:{self.epoch}:{self.seq}"


class AnswerView(BaseModel):
    """The service's last answer to a poisoned item (its body truncated)."""

    model_config = ConfigDict(extra="forbid")

    status: int
    body: str


class PoisonedItem(BaseModel):
    """A poisoned item in ``nce outbox status --json``: why it was set aside."""

    model_config = ConfigDict(extra="forbid")

    seq: int
    kind: ItemKind
    hit_id: str
    event: str
    package_id: str | None
    attempts: int
    reason: str | None
    answer: AnswerView | None


class OutboxStatus(BaseModel):
    """``nce outbox status --json``."""

    model_config = ConfigDict(extra="forbid")

    pending: int
    delivered: int
    poisoned: int
    oldest_pending_s: float | None
    poisoned_items: list[PoisonedItem] = []


def _answer_of(row: sqlite3.Row) -> Answer | None:
    if row["answer_status"] is None:
        return None
    return Answer(int(row["answer_status"]), row["answer_body"] or "", row["answer_digest"] or "")


def item_of_row(row: sqlite3.Row, epoch: str) -> OutboxItem:
    """The item a row of table ``outbox`` holds (``epoch``: the outbox's, for the idempotency key)."""
    return OutboxItem(
        seq=row["seq"],
        device_id=row["device_id"],
        kind=row["kind"],
        hit_id=row["hit_id"],
        event=row["event"],
        payload=json.loads(row["payload"]),
        package_dir=Path(row["package_dir"]) if row["package_dir"] else None,
        created_at=row["created_at"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        epoch=epoch,
        answer=_answer_of(row),
        answer_repeats=int(row["answer_repeats"] or 0),
    )


def poisoned_view(item: OutboxItem) -> PoisonedItem:
    """A poisoned item as ``nce outbox status --json`` shows it."""
    package_id = item.payload.get("package_id") if item.kind == "package" else None
    return PoisonedItem(
        seq=item.seq,
        kind=item.kind,
        hit_id=item.hit_id,
        event=item.event,
        package_id=str(package_id) if package_id is not None else None,
        attempts=item.attempts,
        reason=item.last_error,
        answer=AnswerView(status=item.answer.status, body=item.answer.body) if item.answer else None,
    )


def answer_columns(answer: Answer | None) -> tuple[int | None, str | None, str | None]:
    """The columns ``answer_status``, ``answer_body`` and ``answer_digest`` of ``answer``."""
    if answer is None:
        return None, None, None
    return answer.status, answer.body, answer.digest
