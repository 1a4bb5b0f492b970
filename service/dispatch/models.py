"""The delivery queue: one row per message to send, moved through a persisted state machine."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Table, Text
from sqlmodel import Column, Field, SQLModel

from service.channels import Channel
from service.db import UTCDateTime, new_id, str_enum


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its time (now, or the company's next opening)
    sending = "sending"  # claimed by a dispatcher; the provider is being called
    sent = "sent"  # accepted by the provider
    delivered = "delivered"  # the provider confirmed delivery
    retrying = "retrying"  # not accepted yet; tried again at `due_at`
    failed = "failed"  # will not be delivered


class DeliveryReason(StrEnum):
    routing = "routing"
    escalation = "escalation"
    fallback = "fallback"
    # A destination told the memo was acknowledged: its chat message updated, or an event.
    acknowledged = "acknowledged"
    # A webhook destination told that one of the memo's messages failed for good.
    memo_failed = "memo_failed"
    # An open memo's follow-up deadline is near, or has passed and it is still unresolved.
    follow_up_reminder = "follow_up_reminder"
    follow_up_overdue = "follow_up_overdue"
    # A company's daily recap: about the company's day, not one memo.
    recap = "recap"


# Deliveries that report what became of a memo rather than carry it: they neither fall back
# nor count towards whether the memo reached anyone.
REPORTS = frozenset(
    {
        DeliveryReason.acknowledged,
        DeliveryReason.memo_failed,
        DeliveryReason.follow_up_reminder,
        DeliveryReason.follow_up_overdue,
        DeliveryReason.recap,
    }
)
# Deliveries not yet handed to their provider for good: waiting, to be tried again, or claimed.
UNSENT = frozenset({DeliveryStatus.pending, DeliveryStatus.retrying, DeliveryStatus.sending})
# Deliveries that remind of an open memo's follow-up deadline, in their own short format.
FOLLOW_UPS = frozenset({DeliveryReason.follow_up_reminder, DeliveryReason.follow_up_overdue})


# A status only moves forward: a late "sent" never overwrites "delivered".
STATUS_RANK = {
    DeliveryStatus.pending: 0,
    DeliveryStatus.retrying: 1,
    DeliveryStatus.sending: 2,
    DeliveryStatus.sent: 3,
    DeliveryStatus.delivered: 4,
    DeliveryStatus.failed: 4,
}


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "due_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # The memo it carries or reports on; a report of the company's day (a recap) has none and
    # names the recap it carries instead.
    memo_id: str | None = Field(default=None, foreign_key="memos.id", index=True, max_length=32)
    recap_id: str | None = Field(
        default=None, foreign_key="daily_recaps.id", index=True, max_length=32
    )
    contact_key: str = Field(max_length=64)
    channel: Channel = Field(sa_column=Column(str_enum(Channel), nullable=False))
    to: str = Field(max_length=320, index=True)
    reason: DeliveryReason = Field(sa_column=Column(str_enum(DeliveryReason), nullable=False))
    status: DeliveryStatus = Field(sa_column=Column(str_enum(DeliveryStatus), nullable=False))
    attempts: int = 0
    provider_id: str | None = Field(default=None, max_length=200, index=True)
    error: str | None = Field(default=None, max_length=500)
    error_code: str | None = Field(default=None, max_length=32)
    # When it may next be sent: the company's opening time, a backoff, or a throttle slot.
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # While sending: when the claim lapses and the outcome must be reconciled.
    deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    claimed_by: str | None = Field(default=None, max_length=64)
    # When the latest attempt began: a look-up at the provider searches from here.
    attempted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The rendered message, fixed at first attempt so a retry sends the same words.
    locale: str = Field(default="ja", max_length=8)
    subject: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, sa_column=Column(Text))
    html: str | None = Field(default=None, sa_column=Column(Text))
    # Chat and webhook deliveries: the card, options and event as JSON (providers.base.ChatPayload).
    payload: str | None = Field(default=None, sa_column=Column(Text))


class DispatcherHeartbeat(SQLModel, table=True):
    """A running dispatcher; one that stops beating is dead, and its claims are settled."""

    __tablename__ = "dispatchers"

    id: str = Field(primary_key=True, max_length=64)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    heartbeat_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# The table itself, for writes that need no unit of work (new deliveries).
DELIVERIES: Table = SQLModel.metadata.tables["deliveries"]
