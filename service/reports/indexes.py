"""Indexes the reports read by, on tables other domains write.

A company's report and statement read its calls of one period: by company and time, rather
than every call the company ever had. Made with the calls table (`metadata.create_all`, as
service.models imports this module) and by migration 0020.
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import SQLModel

import service.calls.models  # noqa: F401 (the calls table, defined there)

CALLS = SQLModel.metadata.tables["calls"]

CALLS_BY_COMPANY_AND_TIME = Index(
    "ix_calls_company_started", CALLS.c.company_id, CALLS.c.started_at
)
