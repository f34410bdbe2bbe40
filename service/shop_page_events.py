"""What a shop sends through its page, recorded on the case: the one place a shop's statement or
correction photo becomes a ledger entry (``shop_responded`` / ``correction_uploaded``) and a
``shop_responses`` row, and the ``shop_responded`` case event for the webhooks that want it."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from service import ledger
from service.image_header import ImageInfo
from service.models import Case
from service.models_shop_page import ShopResponse
from service.outbox.events import emit_case_event

ACTIONS = {"statement": "shop_responded", "photo": "correction_uploaded"}


def record_shop_response(
    session: Session,
    *,
    case: Case,
    kind: Literal["statement", "photo"],
    text: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    image: ImageInfo | None = None,
) -> ShopResponse:
    """The row and its ledger entry (actor ``shop:<shop_id>``), in the caller's transaction under the
    ledger lock (not committed)."""
    shop_id = case.shop_id or ""
    payload: dict[str, object] = {"shop_id": shop_id}
    if kind == "statement":
        payload["statement"] = text
    else:
        payload |= {"sha256": sha256, "size": size}
        if image is not None:
            payload |= {"mime": image.mime, "width": image.width, "height": image.height}
    entry = ledger.append(
        session, actor=f"shop:{shop_id}", action=ACTIONS[kind], case_id=case.id, payload=payload
    )
    row = ShopResponse(
        case_id=case.id, shop_id=shop_id, kind=kind, text=text, sha256=sha256, size=size,
        mime=image.mime if image else None, width=image.width if image else None,
        height=image.height if image else None, ledger_seq=entry.seq,
    )  # fmt: skip
    session.add(row)
    detail: dict[str, object] = {"kind": kind, "ledger_seq": entry.seq}
    if sha256 is not None:
        detail["sha256"] = sha256
    emit_case_event(session, case, "shop_responded", detail=detail)  # the case system hears of it
    session.flush()
    return row
