"""The audit trail as the API answers it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class AuditItem(BaseModel):
    """One recorded act."""

    at: datetime
    actor: str = Field(description="Who acted: an email, or `system` for Relay itself.")
    action: str = Field(description="What was done: `sign_in`, `company.saved`, …")
    target: str = Field(description="What it was done to: `company:sakura-dental`, …")
    company: str | None = Field(description="The company it concerns (its slug), if one.")
    detail: dict[str, str] = Field(description="What else was recorded about the act.")
    ip: str | None = Field(description="The client address, for acts made over the web.")


class AuditPage(BaseModel):
    """A page of the trail, newest first."""

    items: list[AuditItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
