"""Case events pushed to the case system: :func:`emit_case_event` queues one signed webhook per
target that wants the event, in the caller's transaction.

Events: ``confirmed``, ``notice_issued``, ``notice_delivered``, ``shop_responded``, ``corrected``,
``escalated``, ``exported`` (:data:`service.outbox.config.CASE_EVENTS`). The body (docs/api.md,
"Webhooks") is fixed when queued: every retry sends the same bytes with the same ``Idempotency-Key``
(``event_id``).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.times import utc_ms
from service.models import Case, HitEventRow, Shop, utcnow
from service.models_outbox import OutboundMessage
from service.outbox.config import CASE_EVENTS, CaseEvent, Integrations, default_integrations

INFO_KEY: Final = "nce_integrations"  # a session's Session.info entry (service.app sets it)
LINK_KEY: Final = "nce_secret_key"  # derives shop page links (service.shop_links); service.app sets it


def integrations_of(session: Session) -> Integrations:
    """The integrations the session was made with (:func:`service.app.build_state`), or the default
    (log-only notifier, no webhooks)."""
    got = session.info.get(INFO_KEY)
    return got if isinstance(got, Integrations) else default_integrations()


def new_message_id(event: str) -> str:
    return f"nce-{event}-{secrets.token_hex(12)}"


def add_message(
    session: Session, *, kind: str, target: str, event: str, message_id: str, case_id: int | None, body: str
) -> OutboundMessage:
    row = OutboundMessage(
        kind=kind, target=target, event=event, message_id=message_id, case_id=case_id, body=body,
        status="pending", attempts=0, refusals=0, next_at=utcnow(),
    )  # fmt: skip
    session.add(row)
    return row


def place(session: Session, case: Case) -> dict[str, str | None]:
    """The camera as its latest package describes it: id, name and address (the manifest's words)."""
    manifest = session.execute(
        select(HitEventRow.manifest)
        .where(HitEventRow.case_id == case.id, HitEventRow.manifest.is_not(None))
        .order_by(HitEventRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    camera: dict[str, Any] = (manifest or {}).get("camera") or {}
    address = (camera.get("location") or {}).get("address")
    return {
        "id": case.camera_id,
        "name": camera.get("name") if isinstance(camera.get("name"), str) else None,
        "address": address if isinstance(address, str) else None,
    }


def violation_name(violation: str) -> str:
    """The violation's Chinese name (the console's catalogue; imported here: the console imports the
    case actions, which import this module)."""
    from service.console.messages import translate_or

    return translate_or("zh-CN", f"violation.{violation}", violation)


def _times(case: Case) -> dict[str, str | None]:
    return {
        name: utc_ms(value) if value is not None else None
        for name, value in (
            ("first_seen", case.first_seen),
            ("last_seen", case.last_seen),
            ("notice_issued_at", case.notice_issued_at),
            ("notice_deadline", case.notice_deadline),
        )
    }


def event_payload(
    session: Session, case: Case, event: str, *, event_id: str, at: dt.datetime, detail: dict[str, Any],
    integrations: Integrations,
) -> dict[str, Any]:  # fmt: skip
    """What a webhook says: the event, the case, its shop (no contact), camera, violation and its
    GB/T 30428 event code (``verified`` as the code table says)."""
    shop = session.get(Shop, case.shop_id) if case.shop_id else None
    code = integrations.codes.codes.get(case.violation)
    return {
        "event_id": event_id,
        "event": event,
        "time": utc_ms(at),
        "case": {"id": case.id, "status": case.status, "site_id": case.site_id, "zone_id": case.zone_id}
        | _times(case),
        "shop": None
        if shop is None
        else {
            "shop_id": shop.shop_id,
            "name": shop.name,
            "code": shop.code,
            "license_no": shop.license_no,
            "address": shop.address,
        },
        "camera": place(session, case),
        "violation_class": case.violation,
        "violation_name": violation_name(case.violation),
        "event_code": None
        if code is None
        else {
            "standard": integrations.codes.standard,
            "code": code.code,
            "category": code.category,
            "name": code.name,
            "verified": code.verified,
        },
        "detail": detail,
    }


def emit_case_event(
    session: Session,
    case: Case,
    event: CaseEvent,
    *,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> str | None:
    """Queue ``event`` about ``case`` for every webhook target that wants it, in the caller's
    transaction (call it before the caller commits; it does not commit). ``detail`` (JSON values) goes
    into the payload as is. Returns the event id (the ``Idempotency-Key`` every target gets), or None
    when no target wants the event."""
    if event not in CASE_EVENTS:
        raise ValueError(f"event: expected one of {', '.join(CASE_EVENTS)}, got {event!r}")
    integrations = integrations_of(session)
    targets = [t for t in integrations.webhooks if event in t.events]
    if not targets:
        return None
    session.flush()  # the case's id and columns as they stand
    event_id = new_message_id(event)
    payload = event_payload(
        session, case, event, event_id=event_id, at=at or utcnow(), detail=detail or {},
        integrations=integrations,
    )  # fmt: skip
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    for t in targets:
        add_message(
            session,
            kind="webhook",
            target=t.name,
            event=event,
            message_id=event_id,
            case_id=case.id,
            body=body,
        )
    return event_id
