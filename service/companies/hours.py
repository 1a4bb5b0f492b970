"""A company's opening hours, and when it is (next) open."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.companies.values import fail
from service.i18n import N_

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")


def _minutes(value: str) -> int:
    hours, _, minutes = value.partition(":")
    return int(hours) * 60 + int(minutes)


def known_zone(value: str) -> str:
    """`value` when it names an IANA time zone; refused in the reader's words otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        fail(
            N_("'%(value)s' is not an IANA time zone, e.g. Asia/Tokyo or America/New_York"),
            value=value,
        )
    return value


def clock_time(value: Any) -> str:
    """`value` when it is a time of day written HH:MM; refused in the reader's words otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 18:00 as the number 1080 (base 60).
        fail(N_('write the time in quotes, e.g. "18:00"'))
    if not isinstance(value, str) or not _CLOCK.fullmatch(value.strip()):
        fail(
            N_('\'%(value)s\' is not a time of day: write HH:MM, e.g. "09:00" (or "24:00")'),
            value=value,
        )
    return value.strip()


class Hours(BaseModel):
    """When a company takes memos at once; outside these, non-urgent memos wait."""

    model_config = ConfigDict(extra="forbid")

    timezone: str
    open: str
    close: str
    days: list[Weekday] = Field(min_length=1)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("open", "close", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> str:
        return clock_time(value)

    @field_validator("days")
    @classmethod
    def _distinct_days(cls, value: list[Weekday]) -> list[Weekday]:
        if len(set(value)) != len(value):
            fail(N_("a day is listed twice"))
        return value

    @field_validator("holidays")
    @classmethod
    def _sorted_holidays(cls, value: list[date]) -> list[date]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _open_before_close(self) -> Hours:
        if self.open == "24:00":
            fail(N_('"open" cannot be 24:00'), loc=("open",))
        if _minutes(self.open) >= _minutes(self.close):
            fail(
                N_("opens at %(open)s but closes at %(close)s: open must be before close"),
                loc=("close",),
                open=self.open,
                close=self.close,
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _opening_on(self, day: date) -> tuple[datetime, datetime] | None:
        if WEEKDAYS[day.weekday()] not in self.days or day in self.holidays:
            return None
        # Aware arithmetic within one zone is wall-clock arithmetic: "09:00" stays 09:00 across DST.
        midnight = datetime.combine(day, time(0), self.zone)
        return (
            midnight + timedelta(minutes=_minutes(self.open)),
            midnight + timedelta(minutes=_minutes(self.close)),
        )

    def is_open(self, moment: datetime) -> bool:
        """Whether the company is open at `moment` (timezone-aware)."""
        local = moment.astimezone(self.zone)
        span = self._opening_on(local.date())
        return span is not None and span[0] <= local < span[1]

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` if open then, else the start of the next opening (same timezone as given)."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.zone)
        # A listed weekday comes every 7 days and each holiday removes at most one of them.
        for offset in range(7 * (len(self.holidays) + 2)):
            span = self._opening_on(local.date() + timedelta(days=offset))
            if span is not None and span[0] > local:
                return span[0].astimezone(moment.tzinfo)
        raise AssertionError("hours with at least one day always open again")
