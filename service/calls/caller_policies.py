"""How a company wants one caller handled: a standing instruction and a time limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id


class CallerPolicy(SQLModel, table=True):
    """The one instruction a company gives for a caller, shown when they call it."""

    __tablename__ = "caller_policies"
    __table_args__ = (UniqueConstraint("company_id", "phone"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    company_id: str = Field(foreign_key="companies.id", max_length=32)
    phone: str = Field(max_length=32)
    text: str = Field(max_length=500)
    # Minutes an operator may spend on the call; None when the company sets no limit.
    time_limit_minutes: int | None = Field(default=None)
    set_by: str = Field(foreign_key="users.id", max_length=32)
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
