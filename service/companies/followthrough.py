"""What a company asks of Relay after a memo is delivered: follow-up, retention, the recap."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.companies.hours import clock_time, known_zone
from service.companies.values import ContactKey, Duration, fail
from service.i18n import N_

Category = Literal["complaint", "inquiry", "callback", "order", "other"]
FollowUpChannel = Literal["email", "sms"]
_EMAIL_ONLY: list[FollowUpChannel] = ["email"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FollowUp(_Part):
    """How long after acknowledgement a memo of the listed categories should be resolved.

    Before the deadline the contacts are reminded once (`remind_before`); while the memo is
    still unresolved they are told again every `renotify_every` after the deadline passes.
    """

    after: Duration
    categories: list[Category] = Field(min_length=1)
    remind_before: Duration | None = None
    renotify_every: Duration | None = None
    # Who is reminded; without it, the contacts the memo was first sent to.
    notify: list[ContactKey] | None = Field(default=None, min_length=1)
    channels: list[FollowUpChannel] = Field(default_factory=lambda: _EMAIL_ONLY[:], min_length=1)

    @field_validator("categories", "notify", "channels")
    @classmethod
    def _no_repeats(cls, value: list[str] | None) -> list[str] | None:
        repeated = [item for item, count in Counter(value or []).items() if count > 1]
        if repeated:
            fail(N_("'%(value)s' is listed twice"), value=repeated[0])
        return value

    @model_validator(mode="after")
    def _sensible(self) -> FollowUp:
        if self.remind_before is not None and self.remind_before >= self.after:
            fail(
                N_("`remind_before:` must be shorter than `after:`, or the reminder comes first"),
                loc=("remind_before",),
            )
        if self.renotify_every is not None and self.renotify_every < timedelta(hours=1):
            fail(N_("`renotify_every:` is at least 1h"), loc=("renotify_every",))
        return self

    def due(self, *, category: str, acknowledged_at: datetime) -> datetime | None:
        """When a memo of `category` acknowledged at `acknowledged_at` should be resolved by."""
        return acknowledged_at + self.after if category in self.categories else None


# Without `follow_up:`, a complaint is to be resolved within 3 days of its acknowledgement,
# with a reminder a day before.
DEFAULT_FOLLOW_UP = FollowUp(
    after=timedelta(hours=72), categories=["complaint"], remind_before=timedelta(hours=24)
)


class Retention(_Part):
    """How many days a company's records are kept; a part left out is kept until deleted."""

    memo_days: int | None = Field(default=None, ge=1, le=36_500)
    call_days: int | None = Field(default=None, ge=1, le=36_500)
    recording_days: int | None = Field(default=None, ge=1, le=36_500)
    caller_note_days: int | None = Field(default=None, ge=1, le=36_500)


class Recap(_Part):
    """A daily summary of the company's memos, sent at `at` in `timezone`."""

    at: str
    timezone: str = "Asia/Tokyo"

    @field_validator("at", mode="before")
    @classmethod
    def _clock(cls, value: object) -> str:
        return clock_time(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)
