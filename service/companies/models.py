"""Tables of the companies domain: each client company, its versions, phone numbers, test sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id


class Company(SQLModel, table=True):
    """A client company as currently configured; `config` is its validated YAML document."""

    __tablename__ = "companies"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slug: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=200)
    version: int = 1
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def _no_keys() -> list[str]:
    return []


class CompanyVersion(SQLModel, table=True):
    """One saved state of a company's configuration, kept for the record."""

    __tablename__ = "company_versions"
    __table_args__ = (UniqueConstraint("company_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    company_id: str = Field(foreign_key="companies.id", index=True, max_length=32)
    version: int
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    changed_by: str = Field(max_length=320)
    changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # One line for the record, in English ("greeting, contacts changed"); readers are shown
    # it in their own language from `changed` and `restored_from`.
    summary: str = Field(default="", max_length=500)
    # The top-level keys of the document (CONTRACT §4) that differ from the version before.
    changed: list[str] = Field(default_factory=_no_keys, sa_column=Column(JSON, nullable=False))
    # The version this one brought back, when it was a restore.
    restored_from: int | None = None


class CompanyPhoneNumber(SQLModel, table=True):
    """A number that reaches one company; the primary key keeps numbers unique across companies."""

    __tablename__ = "company_phone_numbers"

    e164: str = Field(primary_key=True, max_length=20)
    company_id: str = Field(foreign_key="companies.id", index=True, max_length=32)


class CompanyTestSend(SQLModel, table=True):
    """A sample memo an admin sent to one contact to try the company's messages: never a real one.

    Its memo is kept out of every list of memos, never escalates, and stays out of the board.
    """

    __tablename__ = "company_test_sends"

    memo_id: str = Field(foreign_key="memos.id", primary_key=True, max_length=32)
    company_id: str = Field(foreign_key="companies.id", index=True, max_length=32)
    contact_key: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    sent_by: str = Field(max_length=320)
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
