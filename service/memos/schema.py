"""The memo as an operator submits it and as the API returns it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from service.errors import Invalid
from service.i18n import N_
from service.memos.models import Category, Urgency
from service.messages.context import fold_header

MAX_BODY_BYTES = 64 * 1024


def _not_blank(text: str) -> str:
    if not text:
        raise Invalid(N_("This field must not be empty."), code="missing")
    return text


# What ends up in an email subject is kept on one line: line breaks and control characters
# (which the mail library refuses in a header) become spaces when the memo is taken.
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(fold_header)
]
CompanyText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(fold_header)
]
SubjectText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(fold_header),
    AfterValidator(_not_blank),
]


class CallerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ShortText = ""
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    company: CompanyText | None = None


class MemoIn(BaseModel):
    """A memo as taken by an operator (CONTRACT §5)."""

    model_config = ConfigDict(extra="forbid")

    client: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    call_sid: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    category: Category
    urgency: Urgency = Urgency.normal
    caller: CallerIn = Field(default_factory=CallerIn)
    subject: SubjectText
    # Bounded in bytes by the domain (413), not here, so an oversized body is told apart.
    body: str = ""
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class Acknowledgement(BaseModel):
    at: str
    by: str | None = Field(description="Who at the company saw it, as they or the operator said.")
    via: str | None = Field(
        description="link, sms, voice, portal, operator, slack, chatwork, line or lineworks"
    )
    recorded_by: str | None = Field(
        default=None,
        description="The Relay user who entered it (staff for the company, or a client user); "
        "null for a link or a reply.",
    )


class Resolution(BaseModel):
    """How the company handled the memo, as last recorded."""

    response: str
    cause: str
    result: str
    resolved: bool
    at: str
    by: str = Field(description="Who at the company it was, as they or the operator said.")


class MemoCaller(BaseModel):
    """Who called, as the operator wrote it down."""

    name: str
    phone: str | None
    # `phone` as people in the company's country write it, for display only.
    phone_display: str
    company: str | None


class DeliveryOut(BaseModel):
    """One delivery of a memo to one contact on one channel."""

    id: str
    channel: str
    to: str
    # `to` as people read it: an address as is, a number as written in the company's country.
    to_display: str
    contact: str
    status: str
    attempts: int
    provider_id: str | None
    error: str | None
    reason: str
    due_at: str


class SkippedContact(BaseModel):
    """A contact the memo did not go to on a channel, and why."""

    contact: str
    channel: str
    reason: str


class MemoOut(BaseModel):
    """A memo as the API returns it."""

    id: str
    client: str
    client_name: str
    status: str
    created_at: str
    updated_at: str
    ack_code: str
    acknowledged: Acknowledgement | None
    call_sid: str | None
    category: str
    urgency: str
    caller: MemoCaller
    subject: str
    body: str
    fields: dict[str, str | int | float | bool | None]
    script_version: int
    operator: str
    deliveries: list[DeliveryOut]
    skipped: list[SkippedContact]
    resolution: Resolution | None = None
    resolved_at: str | None = None
    # When the company should have resolved it by (its follow-up rule); None once resolved.
    follow_up_due: str | None = None
    time_to_acknowledge_seconds: int | None = None
    time_to_resolve_seconds: int | None = None


class MemoPage(BaseModel):
    items: list[MemoOut]
    next_cursor: str | None
