"""How a company handled a memo: every resolution recorded for it, kept as it was entered."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Text, UniqueConstraint, delete, func
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.db import UTCDateTime, new_id


class MemoResolution(SQLModel, table=True):
    """One account of how the company handled a memo; a later one supersedes, never replaces."""

    __tablename__ = "memo_resolutions"
    # Numbered within the memo, so "the latest" is one row even when two share a moment.
    __table_args__ = (UniqueConstraint("memo_id", "number"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    memo_id: str = Field(foreign_key="memos.id", max_length=32)
    number: int
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    response: str = Field(sa_column=Column(Text, nullable=False))
    cause: str = Field(sa_column=Column(Text, nullable=False))
    result: str = Field(sa_column=Column(Text, nullable=False))
    resolved: bool
    # Who at the company it was, as they or the operator said; the path it came by
    # (link, portal, operator); and the Relay user who entered it, when one did.
    by: str = Field(max_length=200)
    via: str = Field(max_length=16)
    recorded_by_user_id: str | None = Field(default=None, max_length=32)
    recorded_by: str | None = Field(default=None, max_length=320)


def resolutions_of(*, session: Session, memo_id: str) -> list[MemoResolution]:
    """Every resolution recorded for a memo, oldest first."""
    return list(
        session.exec(
            select(MemoResolution)
            .where(MemoResolution.memo_id == memo_id)
            .order_by(col(MemoResolution.number))
        ).all()
    )


def resolutions_by_memo(
    *, session: Session, memo_ids: Sequence[str]
) -> dict[str, list[MemoResolution]]:
    """Every resolution recorded for each of these memos, oldest first, by memo id."""
    found: dict[str, list[MemoResolution]] = {}
    if not memo_ids:
        return found
    for row in session.exec(
        select(MemoResolution)
        .where(col(MemoResolution.memo_id).in_(list(memo_ids)))
        .order_by(col(MemoResolution.number))
    ):
        found.setdefault(row.memo_id, []).append(row)
    return found


def latest_resolutions(*, session: Session, memo_ids: Sequence[str]) -> dict[str, MemoResolution]:
    """The latest resolution of each memo that has one."""
    return {
        memo_id: rows[-1]
        for memo_id, rows in resolutions_by_memo(session=session, memo_ids=memo_ids).items()
    }


def next_number(*, session: Session, memo_id: str) -> int:
    """The number the memo's next resolution takes."""
    last = session.exec(
        select(func.max(MemoResolution.number)).where(MemoResolution.memo_id == memo_id)
    ).one()
    return (last or 0) + 1


def delete_for_memos(*, session: Session, memo_ids: Collection[str]) -> None:
    """Delete every resolution recorded for these memos."""
    if memo_ids:
        session.exec(delete(MemoResolution).where(col(MemoResolution.memo_id).in_(memo_ids)))
