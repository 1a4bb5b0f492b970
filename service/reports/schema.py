"""A period's report: what the bureau or one company saw over a day, a week or a month."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

# A week starts on Monday; every boundary is a local midnight in the report's zone.
Period = Literal["day", "week", "month"]


class Count(BaseModel):
    """How many memos carry one value (a category, an urgency)."""

    key: str
    count: int


class Share(BaseModel):
    """A share (0..1) this period and the previous one; change is in points of that share."""

    value: float | None
    previous: float | None
    change: float | None


class Durations(BaseModel):
    """How long something took, over the memos it happened to in the period."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None


class FailedCount(BaseModel):
    """Deliveries that failed on one channel for one reason."""

    channel: str
    reason: str
    count: int


class HourCell(BaseModel):
    """Calls in one local hour of one weekday (0 = Monday) over the period."""

    weekday: int
    hour: int
    calls: int


class RepeatCaller(BaseModel):
    """A caller's number and how often they called and were taken down in the period."""

    phone: str
    display: str
    calls: int
    memos: int
    flagged: bool


class DayPoint(BaseModel):
    """One local day of the period."""

    day: date
    calls: int
    memos: int
    complaints: int


class Report(BaseModel):
    """The figures of one period, for one company (its slug) or bureau-wide (None)."""

    company: str | None
    period: Period
    start: date
    end: date  # exclusive
    timezone: str
    calls: int
    previous_calls: int
    memos: int
    previous_memos: int
    by_category: list[Count]
    by_urgency: list[Count]
    complaint_share: Share
    time_to_acknowledge: Durations
    time_to_resolve: Durations
    # Of the memos acknowledged, the share acknowledged before their first escalation step fired.
    acknowledged_before_escalation: Share
    failed_deliveries: list[FailedCount]
    busiest_hours: list[HourCell]  # only the cells with calls
    repeat_callers: list[RepeatCaller]  # two calls or more in the period, the top 20
    flagged_callers: list[RepeatCaller]  # callers with an active flag who called in the period
    daily: list[DayPoint]  # one per local day of the period
