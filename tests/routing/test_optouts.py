"""Numbers that replied STOP to our SMS, and START again."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from service.clock import ManualClock
from service.routing.optouts import (
    SmsOptOut,
    opted_out_among,
    opted_out_numbers,
    record_opt_in,
    record_opt_out,
)

DIRECTOR = "+819012345678"
OFFICE = "+81312345678"
STRANGER = "+819000000000"


def test_a_number_is_opted_out_from_its_first_stop(session: Session, clock: ManualClock) -> None:
    first = clock.now()
    record_opt_out(session=session, phone=DIRECTOR)
    clock.advance(timedelta(hours=1))
    record_opt_out(session=session, phone=DIRECTOR)
    session.commit()

    row = session.get(SmsOptOut, DIRECTOR)
    assert row is not None
    assert row.opted_out_at == first
    assert opted_out_numbers(session=session) == frozenset({DIRECTOR})


def test_start_lets_sms_go_to_the_number_again(session: Session, clock: ManualClock) -> None:
    record_opt_out(session=session, phone=DIRECTOR)
    record_opt_out(session=session, phone=OFFICE)
    session.commit()

    record_opt_in(session=session, phone=DIRECTOR)
    record_opt_in(session=session, phone=STRANGER)  # never opted out: nothing to undo
    session.commit()

    assert opted_out_numbers(session=session) == frozenset({OFFICE})
    assert session.get(SmsOptOut, DIRECTOR) is None


def test_only_the_numbers_asked_about_are_answered(session: Session, clock: ManualClock) -> None:
    record_opt_out(session=session, phone=DIRECTOR)
    record_opt_out(session=session, phone=OFFICE)
    session.commit()

    assert opted_out_among(session=session, phones=[DIRECTOR, STRANGER, DIRECTOR]) == frozenset(
        {DIRECTOR}
    )
    assert opted_out_among(session=session, phones={STRANGER}) == frozenset()
    assert opted_out_among(session=session, phones=[]) == frozenset()
