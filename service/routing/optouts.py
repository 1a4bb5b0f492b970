"""Numbers that opted out of our SMS (STOP), so routing skips them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlmodel import Column, Field, Session, SQLModel, col, select

from service import clock
from service.db import UTCDateTime

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})


class SmsOptOut(SQLModel, table=True):
    __tablename__ = "sms_opt_outs"

    phone: str = Field(primary_key=True, max_length=32)
    opted_out_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def opted_out_numbers(*, session: Session) -> frozenset[str]:
    """Every number that sent STOP and has not sent START since."""
    return frozenset(session.exec(select(SmsOptOut.phone)).all())


def opted_out_among(*, session: Session, phones: Collection[str]) -> frozenset[str]:
    """Those of `phones` that sent STOP and have not sent START since."""
    if not phones:
        return frozenset()
    query = select(SmsOptOut.phone).where(col(SmsOptOut.phone).in_(sorted(set(phones))))
    return frozenset(session.exec(query).all())


def record_opt_out(*, session: Session, phone: str) -> None:
    """The number sent STOP: no more SMS to it until it sends START."""
    if session.get(SmsOptOut, phone) is None:
        session.add(SmsOptOut(phone=phone, opted_out_at=clock.now()))
        session.flush()


def record_opt_in(*, session: Session, phone: str) -> None:
    """The number sent START: SMS may go to it again."""
    row = session.get(SmsOptOut, phone)
    if row is not None:
        session.delete(row)
        session.flush()
