"""Delivery receipts: the SMS gateway's callback (``POST /api/v1/notifications/receipts``) saying
whether a notice's SMS reached the phone. Signed by the gateway with the receipt secret
(``X-NCE-Signature``, :mod:`service.outbox.signing`); idempotent: the first receipt of a message is
recorded (ledger ``notice_delivered`` or ``notice_delivery_failed``; a delivered one is pushed to the
case system as ``notice_delivered``), a repeat changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.times import utc_ms
from service import ledger
from service.errors import Forbidden, Invalid, NotFound, Unauthorized
from service.models import Case, utcnow
from service.models_outbox import OutboundMessage
from service.outbox import signing
from service.outbox.config import Integrations
from service.outbox.events import emit_case_event


class ReceiptIn(BaseModel):
    """A gateway's receipt: our message id (the ``Idempotency-Key`` it was sent with) and the outcome."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    message_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    status: Literal["delivered", "failed"]
    at: dt.datetime | None = Field(default=None, description="when the gateway saw it (its clock)")
    detail: Annotated[str, StringConstraints(max_length=200)] | None = None


class ReceiptOut(BaseModel):
    message_id: str
    recorded: bool = Field(description="false: this message's receipt was recorded before")
    receipt: str


def check_signature(integrations: Integrations, body: bytes, header: str | None) -> ReceiptIn:
    """The receipt in ``body`` if ``header`` signs it with the receipt secret; 401/403 otherwise."""
    secret = integrations.notifier.receipt_secret
    if secret is None:
        raise Forbidden("delivery receipts are not configured (notifier.receipt_secret_env)")
    if not signing.verify(secret, body, header):
        raise Unauthorized(f"{signing.SIGNATURE_HEADER}: missing or not the body's signature")
    try:
        return ReceiptIn.model_validate_json(body)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()}))
        raise Invalid(f"receipt: expected {{message_id, status: delivered|failed}}; bad: {fields}") from None


def record_receipt(session: Session, data: ReceiptIn) -> ReceiptOut:
    """Record the first receipt of a notice's SMS (ledger, case event). Commits."""
    ledger.lock_head(session)
    row = session.execute(
        select(OutboundMessage)
        .where(OutboundMessage.kind == "sms", OutboundMessage.message_id == data.message_id)
        .with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"message {data.message_id}: no such notice message")
    if row.receipt is not None:
        session.rollback()
        return ReceiptOut(message_id=data.message_id, recorded=False, receipt=row.receipt)
    now = utcnow()
    row.receipt = data.status
    row.receipt_at = now
    payload = {"channel": "sms", "message_id": data.message_id, "detail": data.detail}
    if data.at is not None and data.at.tzinfo is not None:
        payload["receipt_at"] = utc_ms(data.at)
    action = "notice_delivered" if data.status == "delivered" else "notice_delivery_failed"
    ledger.append(session, actor=f"gateway:{row.target}", action=action, case_id=row.case_id, payload=payload)
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    if case is not None and data.status == "delivered":
        emit_case_event(session, case, "notice_delivered", detail={"message_id": data.message_id})
    session.commit()
    return ReceiptOut(message_id=data.message_id, recorded=True, receipt=data.status)
