"""Notes a company or the bureau keeps about one caller of that company."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Index, Text, delete
from sqlmodel import Column, Field, Session, SQLModel, col

from service.db import UTCDateTime, new_id


class CallerNote(SQLModel, table=True):
    """One note about a caller, as one company knows them; kept as written."""

    __tablename__ = "caller_notes"
    # Read per company and caller, newest first; purged per company by age.
    __table_args__ = (
        Index("ix_caller_notes_company_phone_written", "company_id", "phone", "written_at"),
        Index("ix_caller_notes_company_written", "company_id", "written_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    company_id: str = Field(foreign_key="companies.id", max_length=32)
    phone: str = Field(max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    written_by: str = Field(foreign_key="users.id", max_length=32)
    written_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def purge_caller_notes(*, session: Session, company_id: str, before: datetime) -> int:
    """Delete a company's caller notes written before `before`; how many were deleted."""
    result = session.execute(
        delete(CallerNote)
        .where(col(CallerNote.company_id) == company_id, col(CallerNote.written_at) < before)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(cast(CursorResult[Any], result).rowcount or 0)
