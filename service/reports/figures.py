"""A period's figures for one company or the whole bureau, counted by the database.

Every figure is about what happened in the period in the report's zone: calls that rang in it,
and memos taken in it (with what later became of them: acknowledged, resolved, escalated,
failed to reach someone). A company's test sends are no memos and are left out everywhere.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql import Executable
from sqlmodel import Session, col

from service.calls.models import Call, CallerFlag
from service.companies.models import Company, CompanyTestSend
from service.dispatch.models import Delivery, DeliveryStatus
from service.escalation.models import EscalationFiring
from service.memos.models import Category, Memo, Urgency
from service.phones import display_for
from service.reports.schema import (
    Count,
    DayPoint,
    Durations,
    FailedCount,
    HourCell,
    Period,
    RepeatCaller,
    Report,
    Share,
)

REPEAT_CALLERS = 20
# Calls and memos are counted per quarter hour in UTC, then placed in the report's zone: every
# zone's offset is a whole number of quarter hours, so each quarter falls in one local hour.
QUARTER_SECONDS = 900
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class MemoTotals:
    """A span's memos counted whole."""

    memos: int = 0
    acknowledged: int = 0
    # Acknowledged only after an escalation step had fired.
    acknowledged_late: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_urgency: Counter[str] = field(default_factory=Counter)

    @property
    def complaints(self) -> int:
        """Memos of the complaint category."""
        return self.by_category[Category.complaint.value]

    @property
    def acknowledged_first(self) -> int:
        """Acknowledged before any escalation step fired (or with none fired)."""
        return self.acknowledged - self.acknowledged_late


@dataclass(frozen=True)
class Window:
    """A period's local days and the UTC moments they span (end exclusive)."""

    start: date
    end: date
    lo: datetime
    hi: datetime


def period_start(*, period: Period, day: date) -> date:
    """The first day of the period that holds `day`: itself, its Monday, or the 1st."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_end(*, period: Period, start: date) -> date:
    """The day after the period that starts on `start`."""
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return start + timedelta(days=calendar.monthrange(start.year, start.month)[1])
    return start + timedelta(days=1)


def previous_start(*, period: Period, start: date) -> date:
    """The first day of the period before the one that starts on `start`."""
    return period_start(period=period, day=start - timedelta(days=1))


def window(*, period: Period, start: date, tz: ZoneInfo) -> Window:
    """The period holding `start`, as local days and UTC moments."""
    first = period_start(period=period, day=start)
    end = period_end(period=period, start=first)
    return Window(
        start=first,
        end=end,
        lo=datetime.combine(first, time(), tz).astimezone(UTC),
        hi=datetime.combine(end, time(), tz).astimezone(UTC),
    )


def period_report(
    *,
    session: Session,
    company_id: str | None,
    period: Period,
    start: date,
    tz: ZoneInfo,
    country: str = "JP",
) -> Report:
    """The figures of the period holding `start`, for one company or (None) the whole bureau."""
    now = window(period=period, start=start, tz=tz)
    before = window(period=period, start=previous_start(period=period, start=now.start), tz=tz)
    figures = _Figures(session=session, company_id=company_id)
    slug = None
    if company_id is not None:
        company = session.get(Company, company_id)
        slug = company.slug if company is not None else None

    # The period's memos and calls per quarter hour (for its days and hours); the previous
    # period's only in total, which is all the changes need.
    memo_quarters, current = figures.memo_quarters(now)
    previous = figures.memo_totals(before)
    to_acknowledge, to_resolve = figures.outcomes(now)
    call_quarters = figures.call_quarters(now)
    daily = _daily(now, tz=tz, calls=call_quarters, memos=memo_quarters)
    repeat, flagged = figures.callers(now, country=country)
    return Report(
        company=slug,
        period=period,
        start=now.start,
        end=now.end,
        timezone=tz.key,
        calls=sum(call_quarters.values()),
        previous_calls=figures.call_count(before),
        memos=current.memos,
        previous_memos=previous.memos,
        by_category=[Count(key=c.value, count=current.by_category[c.value]) for c in Category],
        by_urgency=[Count(key=u.value, count=current.by_urgency[u.value]) for u in Urgency],
        complaint_share=_share(
            current.complaints, current.memos, previous.complaints, previous.memos
        ),
        time_to_acknowledge=to_acknowledge,
        time_to_resolve=to_resolve,
        acknowledged_before_escalation=_share(
            current.acknowledged_first,
            current.acknowledged,
            previous.acknowledged_first,
            previous.acknowledged,
        ),
        failed_deliveries=figures.failed_deliveries(now),
        busiest_hours=_hour_cells(call_quarters, tz=tz),
        repeat_callers=repeat,
        flagged_callers=flagged,
        daily=daily,
    )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _share(part: int, whole: int, previous_part: int, previous_whole: int) -> Share:
    value, previous = _ratio(part, whole), _ratio(previous_part, previous_whole)
    change = round(value - previous, 4) if value is not None and previous is not None else None
    return Share(value=value, previous=previous, change=change)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` percentile of sorted `values`, interpolated between neighbours as
    PostgreSQL's percentile_cont does; None for no values."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    below = int(position)
    if below + 1 >= len(values):
        return float(values[below])
    return float(values[below] + (position - below) * (values[below + 1] - values[below]))


def _durations(count: int, median: Any, p90: Any) -> Durations:
    return Durations(
        count=count,
        median_seconds=round(float(median), 3) if median is not None else None,
        p90_seconds=round(float(p90), 3) if p90 is not None else None,
    )


def _local(quarter: int, tz: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(seconds=quarter * QUARTER_SECONDS)).astimezone(tz)


def _daily(
    now: Window,
    *,
    tz: ZoneInfo,
    calls: dict[int, int],
    memos: dict[int, tuple[int, int]],
) -> list[DayPoint]:
    call_days: Counter[date] = Counter()
    memo_days: Counter[date] = Counter()
    complaint_days: Counter[date] = Counter()
    for quarter, count in calls.items():
        call_days[_local(quarter, tz).date()] += count
    for quarter, (count, complaints) in memos.items():
        day = _local(quarter, tz).date()
        memo_days[day] += count
        complaint_days[day] += complaints
    days = [now.start + timedelta(days=n) for n in range((now.end - now.start).days)]
    return [
        DayPoint(day=d, calls=call_days[d], memos=memo_days[d], complaints=complaint_days[d])
        for d in days
    ]


def _hour_cells(calls: dict[int, int], *, tz: ZoneInfo) -> list[HourCell]:
    cells: Counter[tuple[int, int]] = Counter()
    for quarter, count in calls.items():
        local = _local(quarter, tz)
        cells[(local.weekday(), local.hour)] += count
    return [
        HourCell(weekday=weekday, hour=hour, calls=count)
        for (weekday, hour), count in sorted(cells.items())
        if count
    ]


class _Figures:
    """The queries of one report: one company's rows, or every company's."""

    def __init__(self, *, session: Session, company_id: str | None) -> None:
        self.session = session
        self.company_id = company_id
        self.postgres = session.get_bind().dialect.name == "postgresql"

    # Where clauses ------------------------------------------------------------------------

    def _memos_in(self, span: Window) -> list[ColumnElement[bool]]:
        conditions = [
            col(Memo.created_at) >= span.lo,
            col(Memo.created_at) < span.hi,
            col(Memo.id).not_in(select(col(CompanyTestSend.memo_id))),
        ]
        if self.company_id is not None:
            conditions.insert(0, col(Memo.company_id) == self.company_id)
        return conditions

    def _calls_in(self, span: Window) -> list[ColumnElement[bool]]:
        conditions = [col(Call.started_at) >= span.lo, col(Call.started_at) < span.hi]
        if self.company_id is not None:
            conditions.insert(0, col(Call.company_id) == self.company_id)
        return conditions

    def _quarter(self, column: Any) -> ColumnElement[Any]:
        if self.postgres:
            # date_part is double precision; extract() is numeric, several times dearer.
            # A float divisor keeps the division in double precision: an integer one is cast
            # to numeric, and the whole division with it.
            quarter_seconds = float(QUARTER_SECONDS)
            return cast(func.floor(func.date_part("epoch", column) / quarter_seconds), BigInteger)
        # Whole seconds since 1970 divided as integers: the quarter hour it falls in.
        return cast(func.strftime("%s", column), Integer) // QUARTER_SECONDS

    def _seconds(self, later: Any, earlier: Any) -> ColumnElement[Any]:
        # Whole milliseconds on both backends, so a median is the same number on each.
        if self.postgres:
            return func.round(func.date_part("epoch", later - earlier) * 1000.0) / 1000.0
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)

    def _rows(self, query: Executable) -> Sequence[Any]:
        return self.session.execute(query).all()

    # Memos --------------------------------------------------------------------------------

    def _memo_counts(self) -> list[ColumnElement[Any]]:
        # How many memos, acknowledged, and of each category and urgency: every count one
        # pass over the memos can make.
        return [
            func.count(),
            func.count(col(Memo.acknowledged_at)),
            *(func.count().filter(col(Memo.category) == c.value) for c in Category),
            *(func.count().filter(col(Memo.urgency) == u.value) for u in Urgency),
        ]

    def _add(self, totals: MemoTotals, counts: Sequence[Any]) -> tuple[int, int]:
        memos, acknowledged, *rest = (int(n) for n in counts)
        totals.memos += memos
        totals.acknowledged += acknowledged
        for c, n in zip(Category, rest[: len(Category)], strict=True):
            totals.by_category[c.value] += n
        for u, n in zip(Urgency, rest[len(Category) :], strict=True):
            totals.by_urgency[u.value] += n
        return memos, rest[list(Category).index(Category.complaint)]

    def memo_quarters(self, span: Window) -> tuple[dict[int, tuple[int, int]], MemoTotals]:
        """For each quarter hour of the span that has memos: how many, and how many were
        complaints; and the span's memos counted whole."""
        quarter = self._quarter(col(Memo.created_at)).label("quarter")
        rows = self._rows(
            select(quarter, *self._memo_counts()).where(*self._memos_in(span)).group_by(quarter)
        )
        totals = MemoTotals()
        quarters = {int(q): self._add(totals, counts) for q, *counts in rows}
        totals.acknowledged_late = self._acknowledged_late(span)
        return quarters, totals

    def memo_totals(self, span: Window) -> MemoTotals:
        """The span's memos by category and urgency, and how many were acknowledged, before
        any escalation step fired or after."""
        totals = MemoTotals()
        self._add(totals, self._rows(select(*self._memo_counts()).where(*self._memos_in(span)))[0])
        totals.acknowledged_late = self._acknowledged_late(span)
        return totals

    def _acknowledged_late(self, span: Window) -> int:
        # Read from the firings, a tenth of the memos or fewer: the memos acknowledged only
        # after a step had fired. A memo's steps fire after it was taken, which bounds the
        # firings read by the span's start.
        fired = col(EscalationFiring.fired_at)
        return int(
            self.session.execute(
                select(func.count(func.distinct(col(Memo.id))))
                .select_from(EscalationFiring)
                .join(Memo, col(Memo.id) == col(EscalationFiring.memo_id))
                .where(*self._memos_in(span), fired >= span.lo, fired <= col(Memo.acknowledged_at))
            ).scalar_one()
        )

    def outcomes(self, span: Window) -> tuple[Durations, Durations]:
        """How long the span's memos took to be acknowledged and to be resolved (of those
        that were)."""
        taken = col(Memo.created_at)
        acknowledged, resolved = col(Memo.acknowledged_at), col(Memo.resolved_at)
        to_ack = self._seconds(acknowledged, taken)
        to_resolve = self._seconds(resolved, taken)
        where = [*self._memos_in(span), or_(acknowledged.is_not(None), resolved.is_not(None))]
        if self.postgres:
            # Ordered-set aggregates pass over nulls: each duration counts its own memos.
            row = self.session.execute(
                select(
                    func.count(to_ack),
                    func.percentile_cont(0.5).within_group(to_ack),
                    func.percentile_cont(0.9).within_group(to_ack),
                    func.count(to_resolve),
                    func.percentile_cont(0.5).within_group(to_resolve),
                    func.percentile_cont(0.9).within_group(to_resolve),
                ).where(*where)
            ).one()
            return _durations(int(row[0]), row[1], row[2]), _durations(int(row[3]), row[4], row[5])
        acks: list[float] = []
        resolves: list[float] = []
        for ack_seconds, resolve_seconds in self._rows(select(to_ack, to_resolve).where(*where)):
            if ack_seconds is not None:
                acks.append(float(ack_seconds))
            if resolve_seconds is not None:
                resolves.append(float(resolve_seconds))
        acks.sort()
        resolves.sort()
        return (
            _durations(len(acks), percentile(acks, 0.5), percentile(acks, 0.9)),
            _durations(len(resolves), percentile(resolves, 0.5), percentile(resolves, 0.9)),
        )

    def failed_deliveries(self, span: Window) -> list[FailedCount]:
        """The span's memos' deliveries that failed, by channel and the provider's error code."""
        reason = func.coalesce(col(Delivery.error_code), literal("unknown")).label("reason")
        failed = [
            col(Delivery.status) == DeliveryStatus.failed.value,
            # Never due before its memo was taken: lets the (status, due) index bound the
            # failed deliveries read.
            col(Delivery.due_at) >= span.lo,
        ]
        query = select(col(Delivery.channel), reason, func.count())
        if self.company_id is not None:
            # A company's memos of the span are few: read them, then their deliveries.
            query = query.join(Memo, col(Memo.id) == col(Delivery.memo_id)).where(
                *self._memos_in(span), *failed
            )
        else:
            # The bureau's are many, its failed deliveries few: read those, then look up
            # each one's memo (a join would let SQLite read every memo of the span first).
            of_the_span = select(col(Memo.id)).where(
                col(Memo.id) == col(Delivery.memo_id), *self._memos_in(span)
            )
            query = query.where(*failed, exists(of_the_span))
        rows = self._rows(query.group_by(col(Delivery.channel), reason))
        counts = [FailedCount(channel=str(c), reason=str(r), count=int(n)) for c, r, n in rows]
        return sorted(counts, key=lambda f: (-f.count, f.channel, f.reason))

    # Calls --------------------------------------------------------------------------------

    def call_quarters(self, span: Window) -> dict[int, int]:
        """Calls that rang in each quarter hour of the span that has any."""
        quarter = self._quarter(col(Call.started_at)).label("quarter")
        rows = self._rows(
            select(quarter, func.count()).where(*self._calls_in(span)).group_by(quarter)
        )
        return {int(q): int(count) for q, count in rows}

    def call_count(self, span: Window) -> int:
        """Calls that rang in the span."""
        return int(
            self.session.execute(
                select(func.count()).select_from(Call).where(*self._calls_in(span))
            ).scalar_one()
        )

    def callers(
        self, span: Window, *, country: str
    ) -> tuple[list[RepeatCaller], list[RepeatCaller]]:
        """The numbers that called most in the span, twice or more (the first twenty), and
        those under a flag not cleared that called in it, most calls first."""
        calls = func.count().label("calls")
        active = select(col(CallerFlag.phone)).where(col(CallerFlag.cleared_at).is_(None))
        repeat = self._rows(
            select(col(Call.from_number), calls)
            .where(*self._calls_in(span))
            .group_by(col(Call.from_number))
            .having(func.count() >= 2)
            .order_by(calls.desc(), col(Call.from_number))
            .limit(REPEAT_CALLERS)
        )
        flagged_rows = self._rows(
            select(col(Call.from_number), calls)
            .where(*self._calls_in(span), col(Call.from_number).in_(active))
            .group_by(col(Call.from_number))
            .order_by(calls.desc(), col(Call.from_number))
        )
        phones = sorted({str(phone) for phone, _ in (*repeat, *flagged_rows)})
        if not phones:
            return [], []
        memos = dict(
            self._rows(
                select(col(Memo.caller_phone), func.count())
                .where(*self._memos_in(span), col(Memo.caller_phone).in_(phones))
                .group_by(col(Memo.caller_phone))
            )
        )
        # Every flagged caller who called is in `flagged_rows`; a repeat caller not there
        # has no flag in force.
        flagged = {str(phone) for phone, _ in flagged_rows}

        def caller(phone: str, count: int) -> RepeatCaller:
            return RepeatCaller(
                phone=phone,
                display=display_for(phone, country=country),
                calls=int(count),
                memos=int(memos.get(phone, 0)),
                flagged=phone in flagged,
            )

        return (
            [caller(str(p), n) for p, n in repeat],
            [caller(str(p), n) for p, n in flagged_rows],
        )
