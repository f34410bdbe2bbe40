"""Each shop's page link (一店一码): ``/s/<token>``, no accounts.

The token is derived, not stored: ``base64url(HMAC-SHA256(secret_key, "nce-shop-link" ‖ shop_id ‖
generation))`` (43 characters, 256 bits). The database keeps only its SHA-256 (``shop_links.token_hash``,
to find the shop) and the generation, so a copy of the database gives no working link, and the console
can print the same QR code again at any time without keeping the secret. Rotation bumps the generation:
the old link answers 404 from then on. A link is checked by its hash (an index lookup) and then
re-derived and compared in constant time, so a changed ``secret_key`` also retires every link (print
them again: ``nce admin shop-qr``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from service import ledger
from service.models import Shop, utcnow
from service.models_shop_page import ShopLink
from service.settings import Settings

TOKEN_CHARS = 43  # base64url of 32 bytes, unpadded
PAGE_PREFIX = "/s/"


def derive_token(secret_key: str, shop_id: str, generation: int) -> str:
    msg = b"nce-shop-link\x00" + shop_id.encode("utf-8") + b"\x00" + str(generation).encode("ascii")
    mac = hmac.new(secret_key.encode("utf-8"), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ensure_link(session: Session, secret_key: str, shop: Shop, *, actor: str = "system") -> str:
    """The shop's current token; creates the link (generation 1, a ``shop_link_created`` entry) or
    re-hashes it after a ``secret_key`` change. In the caller's transaction (not committed); a write
    takes the ledger lock first, so call it before other pending changes (or under the lock already)."""
    link = session.get(ShopLink, shop.shop_id)
    token = derive_token(secret_key, shop.shop_id, link.generation if link is not None else 1)
    if link is None or link.token_hash != token_hash(token):
        ledger.lock_head(session)  # a write: begun before it (SQLite: BEGIN IMMEDIATE), then read again
        link = session.get(ShopLink, shop.shop_id)
    if link is None:
        token = derive_token(secret_key, shop.shop_id, 1)
        session.add(ShopLink(shop_id=shop.shop_id, generation=1, token_hash=token_hash(token)))
        ledger.append(
            session, actor=actor, action="shop_link_created", case_id=None,
            payload={"shop_id": shop.shop_id, "generation": 1},
        )  # fmt: skip
        session.flush()
        return token
    token = derive_token(secret_key, shop.shop_id, link.generation)
    if link.token_hash != token_hash(token):
        link.token_hash = token_hash(token)
        session.flush()
    return token


def rotate_link(session: Session, secret_key: str, shop: Shop, *, actor: str) -> str:
    """A new token for the shop (the old link answers 404 from now on), with a ``shop_link_rotated``
    entry. In the caller's transaction (not committed)."""
    ledger.lock_head(session)
    link = session.get(ShopLink, shop.shop_id)
    if link is None:
        ensure_link(session, secret_key, shop, actor=actor)
        link = session.get(ShopLink, shop.shop_id)
        if link is None:  # pragma: no cover - just added
            raise RuntimeError("shop link vanished")
    link.generation += 1
    token = derive_token(secret_key, shop.shop_id, link.generation)
    link.token_hash = token_hash(token)
    link.rotated_at = utcnow()
    ledger.append(
        session, actor=actor, action="shop_link_rotated", case_id=None,
        payload={"shop_id": shop.shop_id, "generation": link.generation},
    )  # fmt: skip
    session.flush()
    return token


def shop_for_token(session: Session, secret_key: str, token: str) -> Shop | None:
    """The shop whose current link is ``token``; None for a wrong, old or malformed one (the caller
    answers 404 alike for all)."""
    if len(token) != TOKEN_CHARS or not token.isascii():
        return None
    link = session.execute(
        select(ShopLink).where(ShopLink.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if link is None:
        return None
    expected = derive_token(secret_key, link.shop_id, link.generation)
    if not hmac.compare_digest(expected.encode("ascii"), token.encode("ascii")):
        return None
    return session.get(Shop, link.shop_id)


def page_url(base: str, token: str) -> str:
    return base.rstrip("/") + PAGE_PREFIX + token


def shop_page_url(settings: Settings, shop: Shop) -> str | None:
    """The shop page's address for an SMS or a letter (``NCE_PUBLIC_URL`` + ``/s/<token>``); None when
    the service has no public address configured or ``shop`` is not attached to a session. May add the
    link's row (and its ledger entry) in the shop's session: the caller commits."""
    session = object_session(shop)
    if settings.public_url is None or session is None:
        return None
    return page_url(settings.public_url, ensure_link(session, settings.secret_key, shop))
