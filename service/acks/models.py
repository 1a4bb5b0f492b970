"""The tables of acknowledgement: how many SMS replies each number sent lately."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime


class SmsReplyCount(SQLModel, table=True):
    """Replies from one number (or answers sent back to it) counted since `window_start`."""

    __tablename__ = "sms_reply_counts"

    phone: str = Field(primary_key=True, max_length=64)
    # "reply": replies read; "answer": answers that acknowledged nothing (help, already, …).
    kind: str = Field(primary_key=True, max_length=16)
    window_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    count: int = 0


SMS_REPLY_COUNTS: Table = SQLModel.metadata.tables["sms_reply_counts"]
