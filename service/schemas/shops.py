"""The shop registry (一店一码): base, create, update, public, list."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator

from nce.bounds import Address, Code, Contact, Id, Name
from service.schemas.common import Input, Output

ShopId = Id


class ShopBase(Input):
    name: Name
    code: Code | None = Field(default=None, description="一店一码")
    license_no: Code | None = None
    address: Address | None = None
    contact: Contact | None = None


class ShopCreate(ShopBase):
    shop_id: ShopId = Field(description="the id the site config's zones name")


class ShopUpdate(Input):
    """Only the fields sent change; ``null`` clears an optional field (``name`` cannot be cleared)."""

    name: Name | None = Field(default=None, description="omit to keep; never null")
    code: Code | None = None
    license_no: Code | None = None
    address: Address | None = None
    contact: Contact | None = None

    @field_validator("name")
    @classmethod
    def _name_kept(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("a shop must have a name: send a new one or leave the field out")
        return value


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
