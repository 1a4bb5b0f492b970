"""Table of the audit domain: one row per recorded act."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, JSON, Index, Table, event
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id


class AuditEntry(SQLModel, table=True):
    """One act, as it happened: nothing updates or deletes a row."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at_id", "at", "id"),
        Index("ix_audit_entries_actor_at", "actor", "at"),
        Index("ix_audit_entries_company_at", "company_id", "at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Who acted, as people know them (an email; "system" for Relay itself; for a failed
    # sign-in, the address that was tried). `actor_id` is the user's id when there is one.
    actor: str = Field(max_length=320)
    actor_id: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64, index=True)
    # What was acted on: "company:sakura-dental", "user:kato@example.jp", "memo:<id>".
    target: str = Field(default="", max_length=400)
    # The company the act concerns, when one does: a company's admins read its trail.
    company_id: str | None = Field(default=None, max_length=32)
    detail: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The client address a request came from, for sign-ins and other acts made on the web.
    ip: str | None = Field(default=None, max_length=64)


# Append-only in the database itself, not only by convention: an UPDATE or DELETE of a row
# fails on both databases (TRUNCATE, which tests use to empty tables, is not a row change).
APPEND_ONLY_SQL = {
    "sqlite": [
        "CREATE TRIGGER audit_entries_never_updated BEFORE UPDATE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit entries are never changed'); END",
        "CREATE TRIGGER audit_entries_never_deleted BEFORE DELETE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit entries are never deleted'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit entries are never changed or deleted'; END $$",
        "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
    ],
}
AUDIT_ENTRIES: Table = SQLModel.metadata.tables["audit_entries"]

for _dialect, _statements in APPEND_ONLY_SQL.items():
    for _statement in _statements:
        event.listen(
            AUDIT_ENTRIES,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),
        )
