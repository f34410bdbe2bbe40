"""The shop registry (一店一码): base, create, update, public, list."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from service.schemas.common import Input, Output

ShopId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class ShopBase(Input):
    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=64, description="一店一码")
    license_no: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=300)
    contact: str | None = Field(default=None, max_length=100)


class ShopCreate(ShopBase):
    shop_id: ShopId = Field(description="the id the site config's zones name")


class ShopUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=64)
    license_no: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=300)
    contact: str | None = Field(default=None, max_length=100)


class ShopPublic(Output):
    shop_id: str
    name: str
    code: str | None
    license_no: str | None
    address: str | None
    contact: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ShopsPublic(Output):
    items: list[ShopPublic]
    count: int
