"""Delivery receipts of notice messages, called by the SMS gateway (signed with its shared secret)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from service.api.deps import SessionDep, StateDep
from service.outbox.receipts import ReceiptIn, ReceiptOut, check_signature, record_receipt

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/receipts",
    response_model=ReceiptOut,
    summary="A notice SMS's delivery receipt (gateway)",
    openapi_extra={  # read raw (the signature covers the exact bytes), so described here
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ReceiptIn.model_json_schema()}},
        }
    },
)
def receipt(
    body: Annotated[bytes, Depends(_raw_body)],
    state: StateDep,
    session: SessionDep,
    x_nce_signature: Annotated[str | None, Header(max_length=100)] = None,
) -> ReceiptOut:
    """The body ``{"message_id", "status": "delivered"|"failed", "at"?, "detail"?}`` signed with the
    receipt secret: ``X-NCE-Signature: sha256=<hex HMAC-SHA256(secret, body)>`` (401 when missing or
    wrong, nothing recorded; 403 when receipts are not configured). The first receipt of a message is
    a ledger entry on its case; a repeat answers ``recorded: false``."""
    data = check_signature(state.integrations, body, x_nce_signature)
    return record_receipt(session, data)
