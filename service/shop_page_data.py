"""What a shop's page shows (:mod:`service.shop_page`) and what it accepts: the shop's open notices
(cases with a notice issued and not closed), each with its approved public stills, legal basis and
deadline, and what the shop sent so far; the checks of a correction photo and a statement."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.bounds import TEXT_MAX
from service.case_status import OPEN_STATUSES
from service.crud.cases import party_and_basis
from service.errors import Invalid, UnsupportedMedia
from service.image_header import JPEG_MAGIC, PNG_MAGIC, ImageInfo, image_info
from service.legal import LegalBasisTable
from service.models import Case, Shop
from service.models_shop_page import PublicStill, ShopResponse
from service.public_copies import stills_of
from service.sniff import sniff

STATEMENT_MAX = TEXT_MAX  # characters of one statement (陈述申辩)
PHOTOS_PER_CASE = 10  # correction photos a shop may upload for one case
STATEMENTS_PER_CASE = 5  # statements a shop may submit for one case
MIN_SIDE = 64  # pixels: a smaller "photo" shows nothing
PHOTO_MIMES = ("image/jpeg", "image/png")
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


@dataclass
class Notice:
    case: Case
    basis: dict[str, Any] | None
    stills: list[PublicStill]
    preparing: bool  # no approved public still yet
    responses: list[ShopResponse] = field(default_factory=list)

    @property
    def photos(self) -> int:
        return sum(1 for r in self.responses if r.kind == "photo")

    @property
    def statements(self) -> int:
        return sum(1 for r in self.responses if r.kind == "statement")


def open_notices(session: Session, shop: Shop, legal: LegalBasisTable) -> list[Notice]:
    cases = session.execute(
        select(Case)
        .where(
            Case.shop_id == shop.shop_id, Case.notice_issued_at.is_not(None), Case.status.in_(OPEN_STATUSES)
        )
        .order_by(Case.notice_deadline, Case.id)
    ).scalars()
    out = []
    for case in cases:
        _, basis, _ = party_and_basis(session, case=case, legal=legal)
        stills = stills_of(session, case.id, approved_only=True)
        out.append(Notice(case, basis, stills, not stills, responses_of(session, case.id)))
    return out


def open_notice(session: Session, shop: Shop, case_id: int) -> Case | None:
    """The case if it is an open notice of this shop (else None: the page answers 404)."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None or case.shop_id != shop.shop_id or case.notice_issued_at is None:
        return None
    return case if case.status in OPEN_STATUSES else None


def responses_of(session: Session, case_id: int) -> list[ShopResponse]:
    return list(
        session.execute(
            select(ShopResponse).where(ShopResponse.case_id == case_id).order_by(ShopResponse.id)
        ).scalars()
    )


def shop_may_see(session: Session, shop: Shop, sha256: str) -> str | None:
    """The MIME type of an image the shop's page may show (an approved public still of one of its open
    notices, or a photo it uploaded), else None."""
    open_ids = [
        c for (c,) in session.execute(
            select(Case.id).where(
                Case.shop_id == shop.shop_id, Case.notice_issued_at.is_not(None), Case.status.in_(OPEN_STATUSES)
            )
        )
    ]  # fmt: skip
    if not open_ids:
        return None
    still = session.execute(
        select(PublicStill.id).where(
            PublicStill.sha256 == sha256,
            PublicStill.case_id.in_(open_ids),
            PublicStill.approved_at.is_not(None),
        )
    ).first()
    if still is not None:
        return "image/jpeg"
    mime = session.execute(
        select(ShopResponse.mime).where(
            ShopResponse.sha256 == sha256, ShopResponse.case_id.in_(open_ids), ShopResponse.kind == "photo"
        )
    ).first()
    return mime[0] if mime is not None else None


class ShopInputRefused(Invalid):
    """A correction photo or a statement refused; ``key`` names the page's message, ``values`` fill it in."""

    def __init__(self, key: str, detail: str, **values: object) -> None:
        super().__init__(detail)
        self.key = key
        self.values = values


def check_photo(data: bytes, declared: str | None, *, max_bytes: int) -> ImageInfo:
    """A JPEG or PNG by its bytes (whatever its name or declared type says), with the declared type
    matching, a frame header that parses, a sensible size, and nothing after the image's end marker
    (a polyglot: an image with a ZIP, HTML or script appended)."""
    if not data:
        raise ShopInputRefused("shop.err.empty", "photo: empty (0 bytes)")
    if len(data) > max_bytes:
        raise ShopInputRefused(
            "shop.err.too_big", f"photo: {len(data)} bytes > {max_bytes}", mb=max_bytes // 2**20
        )
    found = sniff(data)
    if found not in PHOTO_MIMES:
        raise ShopInputRefused(
            "shop.err.type", f"photo: content is {found or 'of unknown type'}", found=found or "?"
        )
    base = (declared or "").split(";")[0].strip().lower()
    if base not in PHOTO_MIMES or base != found:
        raise ShopInputRefused(
            "shop.err.declared", f"photo: declared {base or 'nothing'} but its content is {found}"
        )
    try:
        info = image_info(data, name="photo")
    except (Invalid, UnsupportedMedia) as exc:
        raise ShopInputRefused("shop.err.broken", str(exc), why=str(exc)) from exc
    if min(info.width, info.height) < MIN_SIDE:
        raise ShopInputRefused("shop.err.small", f"photo: {info.width}x{info.height} pixels", side=MIN_SIDE)
    ends = data.rstrip(b"\x00").endswith(b"\xff\xd9") if found == "image/jpeg" else data.endswith(_PNG_END)
    if (
        not ends
        or (found == "image/jpeg" and not data.startswith(JPEG_MAGIC))
        or (found == "image/png" and not data.startswith(PNG_MAGIC))
    ):
        raise ShopInputRefused("shop.err.polyglot", "photo: data after the image's end (or no end marker)")
    return info


def check_statement(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ShopInputRefused("shop.err.statement_empty", "statement: empty")
    if len(text) > STATEMENT_MAX:
        raise ShopInputRefused(
            "shop.err.statement_long", f"statement: {len(text)} characters", n=STATEMENT_MAX
        )
    if any(not (ch.isprintable() or ch in "\n\t") for ch in text):
        raise ShopInputRefused("shop.err.statement_chars", "statement: control characters")
    return text


def deadline_passed(case: Case, now: dt.datetime) -> bool:
    return case.notice_deadline is not None and case.notice_deadline <= now
