"""The shop registry (一店一码) that ``shop_frontage`` zones point at."""

from __future__ import annotations

from pydantic import Field

from detector.config.base import ConfigModel, Id
from nce.bounds import Address, Code, Contact, Name


class Shop(ConfigModel):
    """One entry of the 一店一码 registry: the party of a case about its frontage."""

    id: Id = Field(title="Shop id", description="unique; zones name it in shop_id", examples=["S-0001"])
    name: Name = Field(title="Name", description="the shop's registered name", examples=["好又多水果店"])
    code: Code = Field(title="Shop code", description="the shop's 一店一码", examples=["310113-0001"])
    license_no: Code | None = Field(
        None,
        title="Licence number",
        description="business licence number (统一社会信用代码)",
        examples=["91310113MA1G000001"],
    )
    address: Address | None = Field(
        None, title="Address", description="the shop's address", examples=["宝山区 友谊路 100 号"]
    )
    contact: Contact | None = Field(
        None, title="Contact", description="a phone number or person to contact", examples=["021-00000000"]
    )
