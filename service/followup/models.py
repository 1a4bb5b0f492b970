"""Tables of the follow-up domain: the reminders and re-notifications sent for open memos."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id, str_enum


class NoticeKind(StrEnum):
    reminder = "reminder"  # the deadline is near
    overdue = "overdue"  # the deadline has passed and the memo is still open


class FollowUpNotice(SQLModel, table=True):
    """One reminder or re-notification of one memo, sent; the unique key sends each once.

    `number` counts a memo's notices of one kind over its whole life, so a memo reopened
    after it was resolved is reminded anew; `deadline` is the follow-up due it was about.
    """

    __tablename__ = "follow_up_notices"
    __table_args__ = (UniqueConstraint("memo_id", "kind", "number"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    memo_id: str = Field(foreign_key="memos.id", index=True, max_length=32)
    kind: NoticeKind = Field(sa_column=Column(str_enum(NoticeKind), nullable=False))
    number: int
    deadline: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_by: str = Field(max_length=64)
    recipients: int = 0
