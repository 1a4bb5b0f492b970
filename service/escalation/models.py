"""Tables of the escalation domain: steps fired, and callbacks operators owe."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id, str_enum


class EscalationFiring(SQLModel, table=True):
    """One escalation step of one memo, fired; the unique key makes each step fire once."""

    __tablename__ = "escalation_firings"
    __table_args__ = (UniqueConstraint("memo_id", "step"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    memo_id: str = Field(foreign_key="memos.id", index=True, max_length=32)
    step: int
    action: str = Field(max_length=32)  # "notify" or "operator_callback"
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    fired_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    fired_by: str = Field(max_length=64)


class TaskStatus(StrEnum):
    open = "open"  # waiting for an operator
    taken = "taken"  # an operator is on it
    done = "done"  # reached the company, or gave up


class TaskOutcome(StrEnum):
    acknowledged = "acknowledged"  # reached, and they confirmed the memo
    no_answer = "no_answer"
    left_message = "left_message"


class CallbackTask(SQLModel, table=True):
    """An operator must phone the company about an unacknowledged memo."""

    __tablename__ = "callback_tasks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    memo_id: str = Field(foreign_key="memos.id", index=True, max_length=32)
    company_id: str = Field(foreign_key="companies.id", index=True, max_length=32)
    contact_key: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    status: TaskStatus = Field(sa_column=Column(str_enum(TaskStatus), nullable=False, index=True))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    taken_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    taken_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    outcome: TaskOutcome | None = Field(default=None, sa_column=Column(str_enum(TaskOutcome)))
    note: str | None = Field(default=None, max_length=2000)
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
