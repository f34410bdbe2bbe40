"""A notice's message to the shop (告知短信) through the notifier: the words
(``configs/notice_sms.yaml``), the shop's mobile number, the place and the shop page link.

A shop without a mobile number on file gets no SMS: the notice is to be handed over in person
(现场送达), which the notice's ledger entry records (``delivery: in_person``) and the case's flag
``notice_in_person`` shows. Everything here runs in the notice's transaction
(:func:`service.crud.case_actions.issue_notice`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Final

from sqlalchemy.orm import Session

from service import workflow
from service.models import Case, Shop
from service.outbox.config import Integrations, fill
from service.outbox.events import (
    LINK_KEY,
    add_message,
    integrations_of,
    new_message_id,
    place,
    violation_name,
)
from service.shop_links import ensure_link, page_url

BEIJING: Final = dt.timezone(dt.timedelta(hours=8), "CST")
IN_PERSON_FLAG: Final = "notice_in_person"
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d{9})(?!\d)")


def shop_page_url(session: Session, shop: Shop | None, base_url: str | None) -> str | None:
    """The shop's page (``{base_url}/s/{token}``, :mod:`service.shop_links`), or None without a base
    URL (``shop_page_base_url`` in the integrations file, else ``NCE_PUBLIC_URL``) or a secret key in
    the session. Creates the shop's link (generation 1, a ledger entry) in the notice's transaction
    when it has none yet."""
    secret = session.info.get(LINK_KEY)
    if shop is None or base_url is None or not isinstance(secret, str):
        return None
    return page_url(base_url, ensure_link(session, secret, shop))


def mobile_of(shop: Shop | None) -> str | None:
    """The first mainland mobile number in the shop's contact, or None."""
    if shop is None or not shop.contact:
        return None
    m = _MOBILE.search(shop.contact)
    return m.group(1) if m else None


def masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def sms_text(
    session: Session,
    integrations: Integrations,
    *,
    case: Case,
    shop: Shop | None,
    where: dict[str, str | None],
    deadline: dt.datetime,
) -> str:
    """The notice's words, from ``configs/notice_sms.yaml``."""
    t = integrations.sms
    url = shop_page_url(session, shop, integrations.shop_page_base_url)
    values = {
        "shop": shop.name if shop else "",
        "violation": violation_name(case.violation),
        "place": where.get("address") or where.get("name") or (shop.address if shop and shop.address else "")
        or case.camera_id,
        "deadline": deadline.astimezone(BEIJING).strftime("%Y年%m月%d日%H:%M"),
        "link": t.link.replace("{url}", url) if url else "",
    }  # fmt: skip
    return str(fill(t.text, values)).strip()


def enqueue_notice(session: Session, case: Case, shop: Shop | None, deadline: dt.datetime) -> dict[str, Any]:
    """Queue the notice's SMS in the caller's transaction, or flag the case for delivery in person;
    return what the notice's ledger entry records of it (``delivery``, ``channel``, ``message_id``,
    ``to`` masked)."""
    integrations = integrations_of(session)
    phone = mobile_of(shop)
    if phone is None:
        workflow.add_flag(case, IN_PERSON_FLAG)
        return {"delivery": "in_person"}
    n = integrations.notifier
    text = sms_text(
        session, integrations, case=case, shop=shop, where=place(session, case), deadline=deadline
    )
    message_id = new_message_id("notice")
    body = fill(n.body, {"phone": phone, "text": text, "message_id": message_id})
    add_message(
        session, kind="sms", target=n.name, event="notice_issued", message_id=message_id, case_id=case.id,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    )  # fmt: skip
    return {"delivery": "sms", "channel": n.kind, "message_id": message_id, "phone": masked(phone)}
