"""What every section of the site config shares: the strict base model, ids and times of day."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from nce.bounds import Id  # the one id rule, shared with the manifest, the events and the service

__all__ = ["ConfigModel", "Id", "TimeOfDay", "parse_hhmm"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: Any) -> dt.time:
    """A local time of day from ``"HH:MM"`` (or YAML 1.1's sexagesimal reading of an unquoted one)."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 18:00 as the sexagesimal integer 1080
        hours, minutes = divmod(value, 60)
        if 0 <= hours < 24:
            return dt.time(hours, minutes)
    if isinstance(value, str):
        m = _HHMM.match(value.strip())
        if m:
            return dt.time(int(m.group(1)), int(m.group(2)))
    raise ValueError(f'expected a time of day "HH:MM" (00:00..23:59), got {value!r}')


TimeOfDay = Annotated[
    dt.time,
    Field(description='local time of day, "HH:MM"'),
    WithJsonSchema({"type": "string", "pattern": _HHMM.pattern}),
]


class ConfigModel(BaseModel):
    """Base of every section: unknown keys are errors and a loaded config is a frozen value."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)
