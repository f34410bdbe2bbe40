"""The outbox's table: messages to other systems (a notice's SMS, a case event's webhook), written in
the same transaction as the case change that causes them and sent by :mod:`service.outbox.worker`.
On :data:`service.models.Base`'s metadata like every table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.models import Base, utcnow


class OutboundMessage(Base):
    """One message to one target. ``status``: ``pending`` → ``delivered`` | ``poisoned`` (too many
    refusals or attempts; ``nce admin webhooks retry-poisoned`` puts it back). ``body`` is the exact
    bytes sent (UTF-8 JSON): every retry sends the same body with the same ``Idempotency-Key``
    (``message_id``, shared by the rows of one event). A pending row's ``next_at`` is when it may be
    sent next; a worker that takes it moves ``next_at`` past its send (a lease), so another replica
    does not take it meanwhile."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("target", "message_id", name="uq_outbound_target_message"),
        Index("ix_outbound_due", "status", "next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), doc="sms | webhook")
    target: Mapped[str] = mapped_column(String(64), doc="the notifier or the webhook target's name")
    event: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(64), index=True, doc="the Idempotency-Key")
    case_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    refusals: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None, doc="the last HTTP status")
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    receipt: Mapped[str | None] = mapped_column(String(16), default=None, doc="an SMS's delivery receipt")
    receipt_at: Mapped[dt.datetime | None] = mapped_column(default=None)
