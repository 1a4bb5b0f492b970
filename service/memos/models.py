"""Tables of the memos domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Table, Text, UniqueConstraint, text
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id, str_enum


class Category(StrEnum):
    complaint = "complaint"
    inquiry = "inquiry"
    callback = "callback"
    order = "order"
    other = "other"


class Urgency(StrEnum):
    normal = "normal"
    urgent = "urgent"


class MemoStatus(StrEnum):
    relaying = "relaying"
    sent = "sent"
    delivered = "delivered"
    acknowledged = "acknowledged"
    failed = "failed"


# Plain functions rather than `dict` and `list`: pydantic inspects a default factory's
# signature each time a table model is built, and for a builtin that means parsing its text
# signature, which costs more than the rest of building the memo.
def _empty_fields() -> dict[str, Any]:
    return {}


def _empty_skipped() -> list[dict[str, str]]:
    return []


# The memos whose ack code is in use: every one not yet acknowledged.
OPEN_CONDITION = "status <> 'acknowledged'"


class Memo(SQLModel, table=True):
    """What a caller told the operator, to be relayed to the company until acknowledged."""

    __tablename__ = "memos"
    __table_args__ = (
        UniqueConstraint("operator_id", "idempotency_key"),
        # A code names one open memo of its company, so a reply "OK 4821" is never ambiguous;
        # an acknowledged memo gives its code back.
        Index(
            "ux_memos_open_ack_code",
            "company_id",
            "ack_code",
            unique=True,
            postgresql_where=text(OPEN_CONDITION),
            sqlite_where=text(OPEN_CONDITION),
        ),
        # A company's memos in the order its lists page through them (newest first, then by
        # id), so a page is read off the index rather than sorted from all of them; it also
        # serves any lookup by company alone.
        Index("ix_memos_company_created_id", "company_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    company_id: str = Field(foreign_key="companies.id", max_length=32)
    # The script version the operator read from, for the record.
    company_version: int
    call_id: str | None = Field(default=None, foreign_key="calls.id", index=True, max_length=32)
    operator_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    idempotency_key: str | None = Field(default=None, max_length=100)
    category: Category = Field(sa_column=Column(str_enum(Category), nullable=False))
    urgency: Urgency = Field(sa_column=Column(str_enum(Urgency), nullable=False))
    caller_name: str = Field(default="", max_length=100)
    caller_phone: str | None = Field(default=None, max_length=32, index=True)
    caller_company: str | None = Field(default=None, max_length=200)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    fields: dict[str, Any] = Field(
        default_factory=_empty_fields, sa_column=Column(JSON, nullable=False)
    )
    status: MemoStatus = Field(sa_column=Column(str_enum(MemoStatus), nullable=False, index=True))
    ack_code: str = Field(max_length=8)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    acknowledged_by: str | None = Field(default=None, max_length=200)
    acknowledged_via: str | None = Field(default=None, max_length=16)
    # The Relay user who entered the acknowledgement (staff acting for the company, or a
    # client user), as well as the person named in `acknowledged_by`; None for a link or reply.
    acknowledged_by_user_id: str | None = Field(default=None, max_length=32)
    acknowledged_recorded_by: str | None = Field(default=None, max_length=320)
    # When the next escalation step falls due while unacknowledged; None when none is left.
    next_escalation_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )
    # When the company recorded it resolved (None while open: acknowledging never resolves),
    # and when it should have done so by, when its follow-up rule covers the memo.
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Indexed for the overdue ones the board and the portal list.
    follow_up_due: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )
    # When the next follow-up reminder or re-notification of an open memo is looked at.
    next_follow_up_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )
    # Contacts routing named but could not reach (no address, opted out), with the reason.
    skipped: list[dict[str, str]] = Field(
        default_factory=_empty_skipped, sa_column=Column(JSON, nullable=False)
    )


# The table itself, for writing a new memo as one plain row.
MEMOS: Table = SQLModel.metadata.tables["memos"]
