"""A month's statement per company, for billing: what the bureau did for it and what it used.

Each company's month runs from the 1st to the 1st in its own zone (its hours' time zone, Tokyo
when it keeps none). Relay marks no call as blocked or sales: the calls an operator answered
without taking a memo (sales calls, wrong numbers, hang-ups) stand in for them, beside the calls
from callers under a flag. Relay does not record how long a voice call-out lasted: call-outs
are counted, placed and answered, not in minutes. A company's test sends are left out.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import ColumnElement, case, exists, func, select
from sqlmodel import Session, col

from service.calls.models import Call, CallerFlag
from service.channels import Channel
from service.companies.models import Company, CompanyTestSend
from service.companies.service import company_config
from service.dispatch.models import Delivery, DeliveryStatus
from service.escalation.models import CallbackTask
from service.i18n import N_, translate
from service.memos.models import Memo
from service.messages.sms import count_sms
from service.reports.figures import Window, window

DEFAULT_ZONE = "Asia/Tokyo"

CSV_HEADERS = [
    N_("Company code"),
    N_("Company"),
    N_("Month"),
    N_("Time zone"),
    N_("Calls"),
    N_("Calls answered"),
    N_("Memos"),
    N_("Answered without a memo"),
    N_("Calls from flagged callers"),
    N_("SMS sent"),
    N_("SMS segments"),
    N_("Call-outs placed"),
    N_("Call-outs answered"),
    N_("Operator callbacks"),
]


@dataclass
class StatementRow:
    """One company's month."""

    slug: str
    name: str
    month: date
    timezone: str
    calls: int = 0
    calls_answered: int = 0
    memos: int = 0
    answered_without_memo: int = 0
    flagged_calls: int = 0
    sms_sent: int = 0
    sms_segments: int = 0
    callouts_placed: int = 0
    callouts_answered: int = 0
    operator_callbacks: int = 0
    company_id: str = field(default="", repr=False)

    def cells(self) -> list[str | int]:
        """The row as the CSV writes it, in the order of CSV_HEADERS."""
        return [
            self.slug,
            self.name,
            self.month.strftime("%Y-%m"),
            self.timezone,
            self.calls,
            self.calls_answered,
            self.memos,
            self.answered_without_memo,
            self.flagged_calls,
            self.sms_sent,
            self.sms_segments,
            self.callouts_placed,
            self.callouts_answered,
            self.operator_callbacks,
        ]


def company_zone(company: Company) -> str:
    """The zone a company's days are counted in: its hours' time zone, else Tokyo."""
    try:
        hours = company_config(company).hours
    except ValidationError:
        return DEFAULT_ZONE
    return hours.timezone if hours is not None else DEFAULT_ZONE


def monthly_statement(
    *, session: Session, month: date, company_id: str | None = None
) -> list[StatementRow]:
    """The month holding `month` for one company, or for every company (by slug)."""
    query = select(Company).order_by(col(Company.slug))
    if company_id is not None:
        query = query.where(col(Company.id) == company_id)
    companies = list(session.scalars(query).all())
    rows = {
        c.id: StatementRow(
            slug=c.slug,
            name=c.name,
            month=month.replace(day=1),
            timezone=company_zone(c),
            company_id=c.id,
        )
        for c in companies
    }
    # Companies that share a zone share a month's bounds, so each zone is counted at once.
    by_zone: dict[str, list[str]] = defaultdict(list)
    for row in rows.values():
        by_zone[row.timezone].append(row.company_id)
    for zone, ids in by_zone.items():
        span = window(period="month", start=month, tz=ZoneInfo(zone))
        everyone = company_id is None and len(by_zone) == 1
        _count(session=session, span=span, rows=rows, ids=None if everyone else ids)
    return [rows[c.id] for c in companies]


def _count(
    *, session: Session, span: Window, rows: dict[str, StatementRow], ids: list[str] | None
) -> None:
    def of(column: Any) -> list[ColumnElement[bool]]:
        return [column.in_(ids)] if ids is not None else []

    calls_in = [
        *of(col(Call.company_id)),
        col(Call.started_at) >= span.lo,
        col(Call.started_at) < span.hi,
    ]
    answered = col(Call.answered_by).is_not(None)
    memo_of_call = exists().where(col(Memo.call_id) == col(Call.id))
    flagged = col(Call.from_number).in_(
        select(col(CallerFlag.phone)).where(col(CallerFlag.cleared_at).is_(None))
    )

    def flag(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    for company, calls, picked_up, without_memo, from_flagged in session.execute(
        select(
            col(Call.company_id),
            func.count(),
            flag(answered),
            flag(answered & ~memo_of_call),
            flag(flagged),
        )
        .where(*calls_in)
        .group_by(col(Call.company_id))
    ):
        row = rows[company]
        row.calls, row.calls_answered = int(calls), int(picked_up)
        row.answered_without_memo, row.flagged_calls = int(without_memo), int(from_flagged)

    real_memo = col(Memo.id).not_in(select(col(CompanyTestSend.memo_id)))
    memos_in = [
        *of(col(Memo.company_id)),
        col(Memo.created_at) >= span.lo,
        col(Memo.created_at) < span.hi,
        real_memo,
    ]
    for company, memos in session.execute(
        select(col(Memo.company_id), func.count()).where(*memos_in).group_by(col(Memo.company_id))
    ):
        rows[company].memos = int(memos)

    # Messages the provider took in the month, whenever their memo was taken.
    sent_in = [
        *of(col(Memo.company_id)),
        real_memo,
        col(Delivery.sent_at) >= span.lo,
        col(Delivery.sent_at) < span.hi,
    ]
    texts = session.execute(
        select(col(Memo.company_id), col(Delivery.text), func.count())
        .join(Memo, col(Memo.id) == col(Delivery.memo_id))
        .where(*sent_in, col(Delivery.channel) == Channel.sms.value)
        .group_by(col(Memo.company_id), col(Delivery.text))
    )
    segments: Counter[str] = Counter()
    for company, text, count in texts:
        rows[company].sms_sent += int(count)
        segments[company] += count_sms(text=text or "").segments * int(count)
    for company, total in segments.items():
        rows[company].sms_segments = total

    delivered = col(Delivery.status) == DeliveryStatus.delivered.value
    for company, placed, picked_up in session.execute(
        select(col(Memo.company_id), func.count(), flag(delivered))
        .join(Memo, col(Memo.id) == col(Delivery.memo_id))
        .where(*sent_in, col(Delivery.channel) == Channel.voice.value)
        .group_by(col(Memo.company_id))
    ):
        rows[company].callouts_placed, rows[company].callouts_answered = int(placed), int(picked_up)

    for company, tasks in session.execute(
        select(col(CallbackTask.company_id), func.count())
        .where(
            *of(col(CallbackTask.company_id)),
            col(CallbackTask.created_at) >= span.lo,
            col(CallbackTask.created_at) < span.hi,
        )
        .group_by(col(CallbackTask.company_id))
    ):
        rows[company].operator_callbacks = int(tasks)


# A spreadsheet runs a cell that starts like a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | int) -> str | int:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def statement_csv(rows: list[StatementRow], *, locale: str) -> bytes:
    """The statement as CSV with its headers in `locale`: UTF-8 with a BOM, so spreadsheet
    software in Japan reads it right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([translate(locale, header) for header in CSV_HEADERS])
    for row in rows:
        writer.writerow([_cell(value) for value in row.cells()])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
