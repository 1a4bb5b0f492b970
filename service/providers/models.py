"""The dev outbox: what would have been sent, kept for `/dev/outbox`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Column, Field, SQLModel

from service.channels import Channel
from service.db import UTCDateTime, new_id, str_enum


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_messages"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    delivery_id: str = Field(index=True, max_length=32)
    channel: Channel = Field(sa_column=Column(str_enum(Channel), nullable=False))
    to: str = Field(max_length=320)
    subject: str = Field(default="", max_length=500)
    text: str = Field(sa_column=Column(Text, nullable=False))
    html: str | None = Field(default=None, sa_column=Column(Text))
    # A chat message: its card and the request its platform would have been sent, as JSON.
    payload: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
