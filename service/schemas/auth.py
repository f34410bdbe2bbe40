"""Sign-in."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from nce.bounds import Id, Password
from service.schemas.common import Input, Output, Role


class LoginIn(Input):
    username: Id
    password: Password


class PrincipalPublic(Output):
    """Who is calling: a user, a device or a client system."""

    kind: str = Field(description="user | device | client")
    name: str
    role: Role


class LoginOut(Output):
    access_token: str = Field(description="bearer token; the same value is set as the session cookie")
    token_type: str = "bearer"
    expires_at: dt.datetime
    principal: PrincipalPublic
