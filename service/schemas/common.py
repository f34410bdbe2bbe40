"""Shared schema pieces."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from nce.bounds import UtcTime

Role = Literal["device", "operator", "supervisor", "admin", "case_system"]
USER_ROLES: tuple[str, ...] = ("operator", "supervisor", "admin")
CaseStatus = Literal["draft", "confirmed", "dismissed", "notice_issued", "corrected", "escalated", "exported"]
CASE_STATUSES: tuple[str, ...] = (
    "draft",
    "confirmed",
    "dismissed",
    "notice_issued",
    "corrected",
    "escalated",
    "exported",
)


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
