"""The shop page's tables (一店一码, :mod:`service.shop_page`): each shop's link generation, what a
shop sent for a case (statements and correction photos), the blurred public stills of a case with
the operator's approval, and the requests to make them. On :data:`service.models.Base`'s metadata
like every table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nce.bounds import ID_MAX
from service.models import Base, utcnow


class ShopLink(Base):
    """A shop's page link. The secret is never stored: it is ``HMAC(secret_key, shop_id, generation)``
    (:mod:`service.shop_links`), so the console can print the same QR code again; ``token_hash`` (its
    SHA-256) finds the shop. Rotation bumps ``generation``: the old link stops working."""

    __tablename__ = "shop_links"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.shop_id", ondelete="CASCADE"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ShopResponse(Base):
    """What a shop sent about one of its cases through its page: a statement (陈述申辩, ``text``) or a
    correction photo (整改照片, in the evidence store by ``sha256``). ``ledger_seq`` is its entry."""

    __tablename__ = "shop_responses"
    __table_args__ = (Index("ix_shop_responses_case", "case_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    shop_id: Mapped[str] = mapped_column(String(ID_MAX))
    kind: Mapped[str] = mapped_column(String(16), doc="statement | photo")
    text: Mapped[str | None] = mapped_column(Text, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    mime: Mapped[str | None] = mapped_column(String(32), default=None)
    size: Mapped[int | None] = mapped_column(Integer, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    ledger_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PublicStill(Base):
    """A blurred still of a case's package made by ``nce evidence publish`` (:mod:`service.public_copies`),
    in the evidence store by ``sha256``. The shop page shows it only once an operator approved it
    (``approved_at``: 公开副本已审核)."""

    __tablename__ = "public_stills"
    __table_args__ = (Index("ix_public_stills_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("hit_events.id"))
    name: Mapped[str] = mapped_column(String(128), doc="the still's name in its package")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    made_by: Mapped[str] = mapped_column(String(100))
    made_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(100), default=None)
    approved_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class PublicCopyJob(Base):
    """A case's latest request for a public copy (生成公开副本): the click records it ``pending`` and
    returns; the leading replica's sweeper makes the copy (:func:`service.public_copies.run_jobs`) and
    sets ``done`` or ``failed`` with the one-line ``why``. One row per case: a new click re-opens it."""

    __tablename__ = "public_copy_jobs"
    __table_args__ = (Index("ix_public_copy_jobs_state", "state"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16), doc="pending | done | failed")
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    why: Mapped[str | None] = mapped_column(String(500), default=None)
