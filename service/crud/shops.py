"""The shop registry. Every change is a ledger entry; an update records the row after it and a deletion
the row it removed (``payload["shop"]``), so a renamed or deleted party can always be traced. A case
reviewed before the change keeps the party its review recorded (:mod:`service.snapshots`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import ledger
from service.auth import Principal
from service.errors import Conflict, NotFound
from service.models import Shop, utcnow
from service.schemas.shops import ShopCreate, ShopUpdate
from service.snapshots import party_record


def get_shop(session: Session, *, shop_id: str) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} is not in the registry")
    return shop


def list_shops(session: Session, *, offset: int, limit: int) -> tuple[list[Shop], int]:
    rows = list(session.execute(select(Shop).order_by(Shop.shop_id).offset(offset).limit(limit)).scalars())
    total = session.execute(select(func.count()).select_from(Shop)).scalar_one()
    return rows, int(total)


def create_shop(session: Session, *, data: ShopCreate, actor: Principal) -> Shop:
    ledger.lock_head(session)
    shop = add_shop(session, data=data, actor=actor.actor)
    session.commit()
    return shop


def add_shop(session: Session, *, data: ShopCreate, actor: str) -> Shop:
    """Add the shop and its ``shop_created`` entry in the caller's write transaction (not committed)."""
    if session.get(Shop, data.shop_id) is not None:
        raise Conflict(f"shop {data.shop_id} exists")
    shop = Shop(**data.model_dump())
    session.add(shop)
    ledger.append(session, actor=actor, action="shop_created", case_id=None, payload=data.model_dump())
    return shop


def update_shop(session: Session, *, shop_id: str, data: ShopUpdate, actor: Principal) -> Shop:
    ledger.lock_head(session)
    shop = change_shop(session, shop=get_shop(session, shop_id=shop_id), data=data, actor=actor.actor)
    session.commit()
    return shop


def change_shop(session: Session, *, shop: Shop, data: ShopUpdate, actor: str) -> Shop:
    """Change the fields ``data`` sets, with a ``shop_updated`` entry, in the caller's write transaction
    (not committed)."""
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(shop, key, value)
    shop.updated_at = utcnow()
    ledger.append(
        session,
        actor=actor,
        action="shop_updated",
        case_id=None,
        payload={"shop_id": shop.shop_id, **changes, "shop": party_record(shop)},
    )
    return shop


def delete_shop(session: Session, *, shop_id: str, actor: Principal) -> None:
    ledger.lock_head(session)
    shop = get_shop(session, shop_id=shop_id)
    removed = party_record(shop)
    session.delete(shop)
    ledger.append(
        session,
        actor=actor.actor,
        action="shop_deleted",
        case_id=None,
        payload={"shop_id": shop_id, "shop": removed},
    )
    session.commit()
