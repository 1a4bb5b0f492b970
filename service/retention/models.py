"""Table of the retention domain: each run of the purge, and how far it has got."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id

# The kinds of record a company's retention covers, in the order a company is purged:
# memos before calls, since a call is kept while a memo refers to it.
KINDS = ("memos", "recordings", "calls", "caller_notes")


def _nothing() -> dict[str, Any]:
    return {}


class PurgeRun(SQLModel, table=True):
    """One purge of expired records across the companies, done a batch at a time.

    Companies are purged one after another in order of id; `done_through` is the last one
    finished, and `company` the one under way, so a run stopped by a restart goes on where
    it stopped rather than starting again.
    """

    __tablename__ = "purge_runs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # The night (a date in RELAY_PURGE_TIMEZONE) a nightly run is for: one run a night.
    # None for a run started by hand.
    night: date | None = Field(default=None, sa_column=Column(Date(), unique=True))
    started_by: str = Field(max_length=320)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    done_through: str | None = Field(default=None, max_length=32)
    # The company under way: its id, the kind of record being purged, where in its memos
    # the purge has got, and what it has deleted so far.
    company: dict[str, Any] = Field(
        default_factory=_nothing, sa_column=Column(JSON, nullable=False)
    )
    # What the run has deleted in the companies it finished, by kind; and how many companies.
    counts: dict[str, Any] = Field(default_factory=_nothing, sa_column=Column(JSON, nullable=False))
