"""Shared schema pieces."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from nce.bounds import UtcTime

# the case statuses are defined in service.case_status; re-exported here for older imports
from service.case_status import CASE_STATUSES as CASE_STATUSES

Role = Literal["device", "operator", "supervisor", "admin", "case_system"]
USER_ROLES: tuple[str, ...] = ("operator", "supervisor", "admin")


# a time with a UTC offset, in years 1900-2999, returned in UTC (nce.bounds: one rule for all sides)
AwareDatetime = UtcTime


class Input(BaseModel):
    """Request bodies: unknown fields are errors, and every field takes its bounds from
    :mod:`nce.bounds` (tests/security/test_bounds.py holds them to the columns they are stored in)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Message(Output):
    detail: str
