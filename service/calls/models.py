"""Tables of the calls domain: inbound calls, flagged callers, processed webhooks."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id


class Call(SQLModel, table=True):
    """One inbound call to a client company's number."""

    __tablename__ = "calls"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    call_sid: str = Field(unique=True, index=True, max_length=64)
    company_id: str = Field(foreign_key="companies.id", index=True, max_length=32)
    # The script version on screen when the phone rang, so a memo can say what was read.
    company_version: int
    from_number: str = Field(index=True, max_length=32)
    to_number: str = Field(max_length=32)
    status: str = Field(max_length=16, index=True)
    source: str = Field(default="twilio", max_length=16)
    answered_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    recording_url: str | None = Field(default=None, max_length=500)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class CallerFlag(SQLModel, table=True):
    """A warning about a caller (e.g. harassment, カスハラ) shown whenever they call."""

    __tablename__ = "caller_flags"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    phone: str = Field(index=True, max_length=32)
    kind: str = Field(max_length=32)
    note: str = Field(max_length=2000)
    flagged_by: str = Field(foreign_key="users.id", max_length=32)
    flagged_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    cleared_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class WebhookReceipt(SQLModel, table=True):
    """A webhook already handled, keyed by Twilio's idempotency token or its own identity."""

    __tablename__ = "webhook_receipts"

    key: str = Field(primary_key=True, max_length=200)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
