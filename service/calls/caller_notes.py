"""Notes a company or the bureau keeps about one caller of that company."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Index, Text, delete
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service import clock
from service.audit import service as audit
from service.audit.service import Action, Actor
from service.auth.models import Role, User
from service.db import UTCDateTime, new_id
from service.errors import Invalid
from service.i18n import N_


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


class CallerNoteError(Invalid):
    """A caller note that cannot be written or removed as asked."""


class CallerNoteNotFound(CallerNoteError):
    """No note has this id, or none the asker may see."""

    status = 404
    code = "not_found"


NOTE_MAX = 2000


def may_read_company(*, user: User, company_id: str) -> bool:
    """Whether `user` may read and write a company's notes about its callers."""
    return user.role in (Role.admin, Role.operator) or (
        user.role == Role.client and user.company_id == company_id
    )


def may_delete_note(*, user: User, note: CallerNote) -> bool:
    """Whether `user` may remove a note: whoever wrote it, or an admin."""
    return user.role == Role.admin or note.written_by == user.id


def add_caller_note(
    *, session: Session, company_id: str, phone: str, text: str, actor: Actor
) -> CallerNote:
    """Keep a note about a caller of one company; audited."""
    text = text.strip()
    if not text:
        raise CallerNoteError(N_("Write something in the note."), field="text", code="missing")
    if len(text) > NOTE_MAX:
        raise CallerNoteError(
            N_("A note is at most %(max)d characters."), field="text", code="too_long", max=NOTE_MAX
        )
    assert actor.user_id is not None  # notes are written by people
    note = CallerNote(
        company_id=company_id,
        phone=phone,
        text=text,
        written_by=actor.user_id,
        written_at=clock.now(),
    )
    session.add(note)
    session.flush()
    _audit(session=session, note=note, actor=actor, action=Action.caller_note_added)
    return note


def caller_notes(
    *, session: Session, phone: str, company_id: str | None, limit: int | None = None
) -> list[CallerNote]:
    """Notes about a caller, newest first: one company's, or every company's (None)."""
    query = select(CallerNote).where(col(CallerNote.phone) == phone)
    if company_id is not None:
        query = query.where(col(CallerNote.company_id) == company_id)
    query = query.order_by(col(CallerNote.written_at).desc(), col(CallerNote.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def get_caller_note(*, session: Session, note_id: str, phone: str) -> CallerNote:
    """The note with this id about this caller; CallerNoteNotFound otherwise."""
    note = session.get(CallerNote, note_id)
    if note is None or note.phone != phone:
        raise CallerNoteNotFound(N_("No such note."))
    return note


def delete_caller_note(*, session: Session, note: CallerNote, actor: Actor) -> None:
    """Remove a note; the audit trail keeps what it said."""
    _audit(session=session, note=note, actor=actor, action=Action.caller_note_deleted)
    session.delete(note)
    session.flush()


def _audit(*, session: Session, note: CallerNote, actor: Actor, action: Action) -> None:
    audit.record(
        session=session,
        actor=actor,
        action=action,
        target=f"caller:{note.phone}",
        company_id=note.company_id,
        detail={"note": note.id, "text": note.text[:200]},
    )
