"""The shop registry (一店一码) CRUD."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from nce.bounds import Id
from service.api.deps import SessionDep, ShopReader, ShopWriter
from service.crud import shops as crud
from service.schemas.shops import ShopCreate, ShopPublic, ShopsPublic, ShopUpdate

router = APIRouter(prefix="/api/v1/shops", tags=["shops"])

ShopIdPath = Annotated[Id, Path()]


@router.get("", response_model=ShopsPublic)
def list_shops(
    session: SessionDep,
    principal: ShopReader,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ShopsPublic:
    rows, total = crud.list_shops(session, offset=offset, limit=limit)
    return ShopsPublic(items=[ShopPublic.model_validate(r) for r in rows], count=total)


@router.post("", response_model=ShopPublic, status_code=201)
def create_shop(data: ShopCreate, session: SessionDep, principal: ShopWriter) -> ShopPublic:
    return ShopPublic.model_validate(crud.create_shop(session, data=data, actor=principal))


@router.get("/{shop_id}", response_model=ShopPublic)
def get_shop(shop_id: ShopIdPath, session: SessionDep, principal: ShopReader) -> ShopPublic:
    return ShopPublic.model_validate(crud.get_shop(session, shop_id=shop_id))


@router.patch("/{shop_id}", response_model=ShopPublic)
def update_shop(
    shop_id: ShopIdPath, data: ShopUpdate, session: SessionDep, principal: ShopWriter
) -> ShopPublic:
    return ShopPublic.model_validate(crud.update_shop(session, shop_id=shop_id, data=data, actor=principal))


@router.delete("/{shop_id}", status_code=204, response_class=Response)
def delete_shop(shop_id: ShopIdPath, session: SessionDep, principal: ShopWriter) -> Response:
    crud.delete_shop(session, shop_id=shop_id, actor=principal)
    return Response(status_code=204)
