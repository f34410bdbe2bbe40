"""Shared schema pieces."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

# the case statuses are defined in service.case_status; re-exported here for older imports
from service.case_status import CASE_STATUSES as CASE_STATUSES

Role = Literal["device", "operator", "supervisor", "admin", "case_system"]
USER_ROLES: tuple[str, ...] = ("operator", "supervisor", "admin")


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("expected a time with a UTC offset (e.g. 2026-11-26T08:00:00Z)")
    return value.astimezone(dt.UTC)


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]


class Input(BaseModel):
    """Request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Message(Output):
    detail: str
