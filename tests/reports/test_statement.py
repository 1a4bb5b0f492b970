"""A month's statement for billing, each company's counted in its own zone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.models import DeliveryStatus
from service.escalation.models import CallbackTask, TaskStatus
from service.memos.models import Memo
from service.reports.statement import CSV_HEADERS, StatementRow, monthly_statement, statement_csv
from tests.factories import make_english_company
from tests.reports.records import make_call, make_delivery, make_flag, make_memo, make_test_send

TOKYO = ZoneInfo("Asia/Tokyo")
CALLER, FLAGGED = "+819011110001", "+819011110002"
# 71 characters of Japanese: one more than a single UCS-2 segment holds.
LONG_TEXT = "あ" * 71


def jst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


@pytest.fixture
def november(session: Session, clock: ManualClock, company: Company, operator: User) -> Company:
    """さくら歯科's November 2026 (Tokyo) and two calls of Maple Law around its own month."""
    c1 = make_call(
        session, company=company, caller=CALLER, started=jst(11, 1, 0), answered_by=operator.id
    )
    make_call(
        session, company=company, caller=CALLER, started=jst(11, 2, 9), answered_by=operator.id
    )
    make_call(session, company=company, caller=CALLER, started=jst(11, 3, 9), status="no-answer")
    c4 = make_call(
        session,
        company=company,
        caller=FLAGGED,
        started=jst(11, 30, 23, 59),
        answered_by=operator.id,
    )
    make_call(
        session,
        company=company,
        caller=CALLER,
        started=jst(10, 31, 23, 59),
        answered_by=operator.id,
    )
    make_flag(session, phone=FLAGGED, flagged_by=operator.id, at=jst(10, 1, 9))

    def memo(taken: datetime, call_id: str | None = None) -> Memo:
        return make_memo(
            session,
            company=company,
            operator_id=operator.id,
            taken=taken,
            call_id=call_id,
            category="inquiry",
            urgency="normal",
        )

    m1 = memo(jst(11, 1, 0, 5), c1.id)
    m4 = memo(jst(11, 30, 23, 59), c4.id)
    m5 = memo(jst(11, 10, 9))
    sample = memo(jst(11, 10, 10))
    make_test_send(session, memo=sample, company=company)

    sent = jst(11, 10, 12)
    make_delivery(
        session,
        memo=m1,
        channel=Channel.sms,
        status=DeliveryStatus.sent,
        text="折り返しお願いします",
        sent_at=sent,
    )
    make_delivery(
        session,
        memo=m4,
        channel=Channel.sms,
        status=DeliveryStatus.delivered,
        text=LONG_TEXT,
        sent_at=jst(12, 1, 0, 1),
    )
    make_delivery(
        session,
        memo=m5,
        channel=Channel.sms,
        status=DeliveryStatus.delivered,
        text=LONG_TEXT,
        sent_at=jst(11, 30, 9),
    )
    make_delivery(
        session, memo=m5, channel=Channel.sms, status=DeliveryStatus.failed, text=LONG_TEXT
    )
    make_delivery(
        session,
        memo=sample,
        channel=Channel.sms,
        status=DeliveryStatus.sent,
        text=LONG_TEXT,
        sent_at=sent,
    )
    make_delivery(
        session, memo=m1, channel=Channel.voice, status=DeliveryStatus.delivered, sent_at=sent
    )
    make_delivery(
        session, memo=m5, channel=Channel.voice, status=DeliveryStatus.failed, sent_at=sent
    )
    make_delivery(
        session, memo=m5, channel=Channel.email, status=DeliveryStatus.delivered, sent_at=sent
    )
    session.add(
        CallbackTask(
            memo_id=m5.id,
            company_id=company.id,
            status=TaskStatus.done,
            due_at=sent,
            created_at=sent,
            updated_at=sent,
        )
    )

    maple = make_english_company(session)
    # 22:00 on 31 October in New York, then 23:00 on 30 November there.
    make_call(session, company=maple, caller=CALLER, started=datetime(2026, 11, 1, 2, tzinfo=UTC))
    make_call(session, company=maple, caller=CALLER, started=datetime(2026, 12, 1, 4, tzinfo=UTC))
    session.commit()
    return company


def test_a_companys_month(session: Session, november: Company) -> None:
    [row] = monthly_statement(session=session, month=date(2026, 11, 15), company_id=november.id)

    assert row == StatementRow(
        slug="sakura-dental",
        name="さくら歯科クリニック",
        month=date(2026, 11, 1),
        timezone="Asia/Tokyo",
        calls=4,
        calls_answered=3,
        memos=3,
        # The call of the 2nd: answered, no memo taken.
        answered_without_memo=1,
        flagged_calls=1,
        # The short message and the long one of the 30th (the other long one went in December).
        sms_sent=2,
        sms_segments=3,
        callouts_placed=2,
        callouts_answered=1,
        operator_callbacks=1,
        company_id=november.id,
    )


def test_every_company_in_its_own_zone(session: Session, november: Company) -> None:
    rows = monthly_statement(session=session, month=date(2026, 11, 1))

    assert [(r.slug, r.timezone, r.calls, r.memos) for r in rows] == [
        ("maple-law", "America/New_York", 1, 0),
        ("sakura-dental", "Asia/Tokyo", 4, 3),
    ]


def test_the_csv_has_a_bom_a_header_and_a_row_per_company(
    session: Session, november: Company
) -> None:
    rows = monthly_statement(session=session, month=date(2026, 11, 1))

    data = statement_csv(rows, locale="en")

    assert data.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == CSV_HEADERS
    assert table[2] == [
        "sakura-dental",
        "さくら歯科クリニック",
        "2026-11",
        "Asia/Tokyo",
        "4",
        "3",
        "3",
        "1",
        "1",
        "2",
        "3",
        "2",
        "1",
        "1",
    ]
    assert len(table) == 3


def test_a_name_like_a_formula_is_written_as_text() -> None:
    row = StatementRow(
        slug="x", name="=HYPERLINK(1)", month=date(2026, 11, 1), timezone="Asia/Tokyo"
    )

    table = list(csv.reader(io.StringIO(statement_csv([row], locale="ja").decode("utf-8-sig"))))

    assert table[1][1] == "'=HYPERLINK(1)"
