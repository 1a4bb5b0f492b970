"""A week's figures for one company and the bureau, every number worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.models import DeliveryStatus
from service.memos.models import Memo
from service.reports.figures import percentile, period_report, window
from service.reports.schema import (
    Count,
    DayPoint,
    Durations,
    FailedCount,
    HourCell,
    RepeatCaller,
    Share,
)
from tests.factories import make_english_company
from tests.reports.records import (
    make_call,
    make_delivery,
    make_firing,
    make_flag,
    make_memo,
    make_test_send,
)

TOKYO = ZoneInfo("Asia/Tokyo")
P1, P2, P3, P4, P5 = (f"+81901111000{n}" for n in range(1, 6))


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in Tokyo, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


@pytest.fixture
def history(session: Session, clock: ManualClock, company: Company, operator: User) -> Company:
    """Two weeks of さくら歯科 (Mon 2 and Mon 9 November 2026, Tokyo) and one memo and call
    of another company."""

    def memo(**columns: Any) -> Memo:
        return make_memo(session, company=company, operator_id=operator.id, **columns)

    def call(caller: str, started: datetime) -> None:
        make_call(session, company=company, caller=caller, started=started)

    # The week of Monday 9 November.
    m1 = memo(
        taken=jst(9, 10),
        category="complaint",
        urgency="urgent",
        caller_phone=P1,
        acknowledged_after=300,
        resolved_after=3600,
    )
    m2 = memo(
        taken=jst(9, 10, 20),
        category="inquiry",
        urgency="normal",
        caller_phone=P1,
        acknowledged_after=600,
    )
    m3 = memo(
        taken=jst(10, 23, 30),
        category="complaint",
        urgency="normal",
        caller_phone=P2,
        acknowledged_after=1200,
        resolved_after=7200,
    )
    memo(
        taken=jst(15, 23, 59),
        category="callback",
        urgency="normal",
        caller_phone=P3,
    )
    memo(
        taken=jst(11, 9),
        category="order",
        urgency="normal",
        caller_phone=P1,
        acknowledged_after=60,
    )
    # m1 was acknowledged before its first step fired; m2 after.
    make_firing(session, memo=m1, after=600)
    make_firing(session, memo=m2, after=120)
    make_delivery(
        session, memo=m1, channel=Channel.sms, status=DeliveryStatus.failed, error_code="30003"
    )
    make_delivery(session, memo=m1, channel=Channel.email, status=DeliveryStatus.failed)
    make_delivery(
        session, memo=m2, channel=Channel.sms, status=DeliveryStatus.failed, error_code="30003"
    )
    make_delivery(session, memo=m3, channel=Channel.email, status=DeliveryStatus.delivered)
    # A test send, failed and acknowledged at once: in no figure.
    sample = memo(taken=jst(11, 12), category="complaint", urgency="urgent", acknowledged_after=1)
    make_test_send(session, memo=sample, company=company)
    make_delivery(session, memo=sample, channel=Channel.sms, status=DeliveryStatus.failed)
    # The first moment of the next week.
    memo(taken=jst(16, 0), category="complaint", urgency="urgent")

    # The week of Monday 2 November: its last moment, then earlier days.
    p1 = memo(taken=jst(8, 23, 59), category="complaint", urgency="normal", acknowledged_after=100)
    make_firing(session, memo=p1, after=50)
    memo(taken=jst(3, 9), category="inquiry", urgency="normal", acknowledged_after=10)
    memo(taken=jst(4, 9), category="inquiry", urgency="normal")
    memo(taken=jst(5, 9), category="other", urgency="normal")

    call(P1, jst(9, 10))
    call(P1, jst(9, 10, 19))
    call(P1, jst(11, 8, 59))
    call(P2, jst(10, 23, 30))
    call(P2, jst(11, 0, 10))  # Tuesday 15:10 in UTC
    call(P3, jst(15, 23, 59))
    call(P4, jst(13, 14))
    call(P5, jst(13, 14, 30))
    call(P1, jst(8, 23, 59))
    call(P1, jst(3, 12))
    call(P1, jst(16, 0))
    for phone in (P2, P4):
        make_flag(session, phone=phone, flagged_by=operator.id, at=jst(1, 9))
    make_flag(session, phone=P5, flagged_by=operator.id, at=jst(1, 9), cleared=True)

    other = make_english_company(session)
    make_memo(
        session,
        company=other,
        operator_id=operator.id,
        taken=jst(12, 12),
        category="complaint",
        urgency="normal",
        caller_phone=P1,
    )
    make_call(session, company=other, caller=P1, started=jst(12, 12))
    session.commit()
    return company


def test_a_companys_week_counted_by_hand(session: Session, history: Company) -> None:
    report = period_report(
        session=session, company_id=history.id, period="week", start=date(2026, 11, 12), tz=TOKYO
    )

    assert (report.company, report.period, report.timezone) == (
        "sakura-dental",
        "week",
        "Asia/Tokyo",
    )
    assert (report.start, report.end) == (date(2026, 11, 9), date(2026, 11, 16))
    assert (report.calls, report.previous_calls) == (8, 2)
    assert (report.memos, report.previous_memos) == (5, 4)
    assert report.by_category == [
        Count(key="complaint", count=2),
        Count(key="inquiry", count=1),
        Count(key="callback", count=1),
        Count(key="order", count=1),
        Count(key="other", count=0),
    ]
    assert report.by_urgency == [Count(key="normal", count=4), Count(key="urgent", count=1)]
    # 2 of 5 against 1 of 4.
    assert report.complaint_share == Share(value=0.4, previous=0.25, change=0.15)
    # Acknowledged after 60, 300, 600 and 1200 s: the median halfway between 300 and 600,
    # p90 at 0.9 × 3 = 2.7 places in, 600 + 0.7 × 600.
    assert report.time_to_acknowledge == Durations(
        count=4, median_seconds=450.0, p90_seconds=1020.0
    )
    # Resolved after 3600 and 7200 s: p90 is 3600 + 0.9 × 3600.
    assert report.time_to_resolve == Durations(count=2, median_seconds=5400.0, p90_seconds=6840.0)
    # m1, m3 and the order of the 11th before any step fired, m2 after: 3 of 4; before, 1 of 2.
    assert report.acknowledged_before_escalation == Share(value=0.75, previous=0.5, change=0.25)
    assert report.failed_deliveries == [
        FailedCount(channel="sms", reason="30003", count=2),
        FailedCount(channel="email", reason="unknown", count=1),
    ]
    assert report.busiest_hours == [
        HourCell(weekday=0, hour=10, calls=2),
        HourCell(weekday=1, hour=23, calls=1),
        HourCell(weekday=2, hour=0, calls=1),
        HourCell(weekday=2, hour=8, calls=1),
        HourCell(weekday=4, hour=14, calls=2),
        HourCell(weekday=6, hour=23, calls=1),
    ]
    assert report.repeat_callers == [
        RepeatCaller(phone=P1, display="090-1111-0001", calls=3, memos=3, flagged=False),
        RepeatCaller(phone=P2, display="090-1111-0002", calls=2, memos=1, flagged=True),
    ]
    # P5's flag was cleared.
    assert report.flagged_callers == [
        RepeatCaller(phone=P2, display="090-1111-0002", calls=2, memos=1, flagged=True),
        RepeatCaller(phone=P4, display="090-1111-0004", calls=1, memos=0, flagged=True),
    ]
    assert report.daily == [
        DayPoint(day=date(2026, 11, 9), calls=2, memos=2, complaints=1),
        DayPoint(day=date(2026, 11, 10), calls=1, memos=1, complaints=1),
        DayPoint(day=date(2026, 11, 11), calls=2, memos=1, complaints=0),
        DayPoint(day=date(2026, 11, 12), calls=0, memos=0, complaints=0),
        DayPoint(day=date(2026, 11, 13), calls=2, memos=0, complaints=0),
        DayPoint(day=date(2026, 11, 14), calls=0, memos=0, complaints=0),
        DayPoint(day=date(2026, 11, 15), calls=1, memos=1, complaints=0),
    ]


def test_the_bureaus_week_counts_every_company(session: Session, history: Company) -> None:
    report = period_report(
        session=session, company_id=None, period="week", start=date(2026, 11, 9), tz=TOKYO
    )

    assert report.company is None
    assert (report.calls, report.memos) == (9, 6)
    # 3 complaints of 6 against 1 of 4.
    assert report.complaint_share == Share(value=0.5, previous=0.25, change=0.25)
    assert report.repeat_callers[0] == RepeatCaller(
        phone=P1, display="090-1111-0001", calls=4, memos=4, flagged=False
    )
    assert report.daily[3] == DayPoint(day=date(2026, 11, 12), calls=1, memos=1, complaints=1)
    assert HourCell(weekday=3, hour=12, calls=1) in report.busiest_hours


def test_a_month_and_a_day_start_where_they_should(session: Session, history: Company) -> None:
    month = period_report(
        session=session, company_id=history.id, period="month", start=date(2026, 11, 20), tz=TOKYO
    )
    day = period_report(
        session=session, company_id=history.id, period="day", start=date(2026, 11, 9), tz=TOKYO
    )

    assert (month.start, month.end, len(month.daily)) == (date(2026, 11, 1), date(2026, 12, 1), 30)
    # Every memo but the test send; nothing in October.
    assert (month.memos, month.previous_memos) == (10, 0)
    assert month.complaint_share == Share(value=0.4, previous=None, change=None)
    assert (day.calls, day.memos, day.previous_calls, day.previous_memos) == (2, 2, 1, 1)


def test_an_empty_period_has_no_shares_or_durations(session: Session, company: Company) -> None:
    report = period_report(
        session=session, company_id=company.id, period="day", start=date(2026, 1, 5), tz=TOKYO
    )

    assert (report.calls, report.memos) == (0, 0)
    assert report.complaint_share == Share(value=None, previous=None, change=None)
    assert report.time_to_acknowledge == Durations(count=0, median_seconds=None, p90_seconds=None)
    assert report.busiest_hours == [] and report.repeat_callers == []
    assert len(report.daily) == 1


def test_hours_are_local_across_a_change_of_clocks(session: Session, operator: User) -> None:
    other = make_english_company(session)
    new_york = ZoneInfo("America/New_York")
    # 1 November 2026: New York goes from EDT (UTC-4) back to EST (UTC-5) at 2 am.
    for moment in (
        datetime(2026, 10, 31, 13, 30, tzinfo=UTC),
        datetime(2026, 11, 2, 14, 30, tzinfo=UTC),
    ):
        make_call(session, company=other, caller=P1, started=moment)
    session.commit()

    report = period_report(
        session=session, company_id=other.id, period="month", start=date(2026, 11, 1), tz=new_york
    )
    last = period_report(
        session=session, company_id=other.id, period="month", start=date(2026, 10, 1), tz=new_york
    )

    # 09:30 EST on Monday the 2nd; 09:30 EDT on Saturday 31 October is October's.
    assert report.busiest_hours == [HourCell(weekday=0, hour=9, calls=1)]
    assert last.busiest_hours == [HourCell(weekday=5, hour=9, calls=1)]
    assert report.previous_calls == 1


def test_windows_run_from_local_midnight() -> None:
    week = window(period="week", start=date(2026, 11, 12), tz=TOKYO)

    assert (week.lo, week.hi) == (
        datetime(2026, 11, 8, 15, tzinfo=UTC),
        datetime(2026, 11, 15, 15, tzinfo=UTC),
    )
    assert window(period="month", start=date(2026, 12, 31), tz=TOKYO).end == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.5, None), ([7.0], 0.9, 7.0), ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5), ([0.0, 10.0], 0.9, 9.0)],
)
def test_percentiles_interpolate_as_postgresql_does(
    values: list[float], fraction: float, expected: float | None
) -> None:
    assert percentile(values, fraction) == expected
