"""Table of the secrets domain: one encrypted value per name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime


class Secret(SQLModel, table=True):
    """A credential a company's destinations name (`secret: acme-chatwork`); only its ciphertext."""

    __tablename__ = "secrets"

    name: str = Field(primary_key=True, max_length=64)
    # Fernet, keyed from the settings' secret: a copy of the database alone reveals no value.
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Who set it, as people know them (an email; "system" for Relay itself), and their user
    # id when there is one; as the audit trail names actors.
    set_by: str = Field(max_length=320)
    set_by_id: str | None = Field(default=None, max_length=32)
