"""Schedules: daily time windows (a rule's active hours) and a zone's exemptions (外摆位)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from detector.config.base import ConfigModel, TimeOfDay, parse_hhmm

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)  # in datetime.weekday() order


class TimeWindow(ConfigModel):
    """A daily window ``from``..``to`` in local time; ``to`` before ``from`` crosses midnight."""

    start: TimeOfDay = Field(
        alias="from",
        title="From",
        description='start of the window, local "HH:MM" (inclusive)',
        examples=["07:00"],
    )
    end: TimeOfDay = Field(
        alias="to",
        title="To",
        description=(
            'end of the window, local "HH:MM" (exclusive); before "from": the window crosses midnight; '
            'equal to "from": the whole day'
        ),
        examples=["22:00"],
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, value: Any) -> dt.time:
        return parse_hhmm(value)

    def contains(self, t: dt.time) -> bool:
        if self.start == self.end:
            return True  # a full day
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


class Exemption(TimeWindow):
    """Allowed outdoor trading (外摆位): no hits inside this window on these days."""

    start: TimeOfDay = Field(
        alias="from",
        title="From",
        description='start of the allowed window, local "HH:MM" (inclusive)',
        examples=["18:00"],
    )
    end: TimeOfDay = Field(
        alias="to",
        title="To",
        description=(
            'end of the allowed window, local "HH:MM" (exclusive); before "from": the window crosses '
            "midnight and belongs to the day it starts on"
        ),
        examples=["22:00"],
    )
    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS),
        min_length=1,
        title="Days",
        description="weekdays on which the window starts, mon..sun",
        examples=[["sat", "sun"]],
    )
    note: str | None = Field(
        None, title="Note", description="why the exemption exists (a permit, …)", examples=["外摆位 许可时段"]
    )

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, list):
            out = []
            for d in value:
                key = str(d).strip().lower()[:3]
                if key not in WEEKDAYS:
                    raise ValueError(f"expected weekdays among {', '.join(WEEKDAYS)}, got {d!r}")
                out.append(key)
            return out
        return value

    def applies(self, when: dt.datetime) -> bool:
        """Whether local time ``when`` falls inside the exemption.

        A window that crosses midnight belongs to the day it starts on.
        """
        t = when.time()
        day = WEEKDAYS[when.weekday()]
        if self.start < self.end or self.start == self.end:
            return day in self.days and self.contains(t)
        if t >= self.start:
            return day in self.days
        if t < self.end:
            yesterday = WEEKDAYS[(when.weekday() - 1) % 7]
            return yesterday in self.days
        return False
