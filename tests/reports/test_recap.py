"""The daily recap: when it is sent, to whom, once a day, and what it says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company, CompanyTestSend
from service.companies.service import company_config
from service.dispatch.compose import outgoing
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.i18n import translate
from service.memos.models import Memo, MemoStatus
from service.providers.base import ChatEvent, ChatPayload
from service.providers.chat.webhook import event_body
from service.providers.models import OutboxMessage
from service.providers.registry import build_providers
from service.reports import recap as recap_module
from service.reports.recap import (
    DailyRecap,
    RecapSchedule,
    recap_recipients,
    send_recap,
    send_test_recap,
)
from service.settings import Settings
from tests.chat import destination
from tests.dispatch.conftest import take_memo
from tests.factories import make_company, make_english_company
from tests.providers.smtp_server import RecordingHandler, smtp_server

# 2026-01-05 is a Monday; Tokyo is UTC+9, so the 18:00 recap is due at 09:00 UTC.
MONDAY = date(2026, 1, 5)
RECAP_DUE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def tokyo(hour: int, minute: int = 0, *, day: date = MONDAY) -> datetime:
    """A moment of `day` in Tokyo, as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=9)


def recap_document(**overrides: Any) -> dict[str, Any]:
    """The default test company, its director and its Slack channel opted in, the office not."""
    document: dict[str, Any] = {
        "recap": {"at": "18:00", "timezone": "Asia/Tokyo"},
        "contacts": [
            {
                "key": "director",
                "name": "佐藤 院長",
                "email": "sato@example.jp",
                "phone": "+819012345678",
                "recap": True,
            },
            {"key": "office", "name": "受付", "email": "uketsuke@example.jp"},
        ],
        "destinations": [
            destination("slack", recap=True),
            destination("chatwork"),
        ],
    }
    document.update(overrides)
    return document


@pytest.fixture
def company(session: Session) -> Company:
    return make_company(session, **recap_document())


def send(schedule: RecapSchedule, session: Session) -> int:
    sent = schedule.send_due(session)
    session.commit()
    return sent


def recap_deliveries(session: Session) -> list[Delivery]:
    session.expire_all()
    rows = session.exec(
        select(Delivery)
        .where(Delivery.reason == DeliveryReason.recap)
        .order_by(col(Delivery.channel), col(Delivery.contact_key))
    ).all()
    session.commit()
    return list(rows)


def recaps(session: Session) -> list[DailyRecap]:
    session.expire_all()
    rows = session.exec(select(DailyRecap).order_by(col(DailyRecap.sent_at))).all()
    session.commit()
    return list(rows)


def test_sent_at_the_chosen_local_time_not_a_second_before_and_once(
    session: Session, settings: Settings, clock: ManualClock, company: Company
) -> None:
    schedule = RecapSchedule(settings=settings)
    clock.set(RECAP_DUE - timedelta(seconds=1))
    assert schedule.next_due(session) == RECAP_DUE
    assert send(schedule, session) == 0
    assert recap_deliveries(session) == []

    clock.set(RECAP_DUE)
    assert send(schedule, session) == 1
    assert send(schedule, session) == 0
    # A restart: a new schedule knows nothing but what the table says.
    clock.advance(timedelta(minutes=5))
    assert send(RecapSchedule(settings=settings), session) == 0

    [recap] = recaps(session)
    assert (recap.company_id, recap.day, recap.sent_at, recap.test) == (
        company.id,
        MONDAY,
        RECAP_DUE,
        False,
    )
    rows = recap_deliveries(session)
    assert [(d.contact_key, d.channel, d.to, d.memo_id, d.recap_id) for d in rows] == [
        ("director", Channel.email, "sato@example.jp", None, recap.id),
        ("ops", Channel.slack, "C0123ABCD", None, recap.id),
    ]
    assert recap.recipients == 2
    assert schedule.next_due(session) == RECAP_DUE + timedelta(days=1)

    clock.set(RECAP_DUE + timedelta(days=1))
    assert send(schedule, session) == 1
    assert [r.day for r in recaps(session)] == [MONDAY, MONDAY + timedelta(days=1)]


def test_a_worker_back_late_that_day_sends_it_but_not_the_next_morning(
    session: Session, settings: Settings, clock: ManualClock, company: Company
) -> None:
    clock.set(tokyo(18, 30))
    assert send(RecapSchedule(settings=settings), session) == 1

    # Down from before Monday's 18:00 until Tuesday morning: Monday's is never sent.
    other = make_company(session, slug="other", name="別の会社", **recap_document())
    clock.set(tokyo(9, 0, day=MONDAY + timedelta(days=1)))
    schedule = RecapSchedule(settings=settings)
    assert send(schedule, session) == 0
    assert [r.company_id for r in recaps(session)] == [company.id]
    assert schedule.next_due(session) == tokyo(18, 0, day=MONDAY + timedelta(days=1))
    assert other.id not in {r.company_id for r in recaps(session)}


def test_only_companies_with_a_recap_and_someone_opted_in_get_one(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    make_company(session)  # no `recap:`
    make_company(
        session,
        slug="nobody",
        name="誰も希望しない会社",
        **recap_document(
            contacts=[{**contact, "recap": False} for contact in recap_document()["contacts"]],
            destinations=[destination("slack")],
        ),
    )
    clock.set(RECAP_DUE)
    schedule = RecapSchedule(settings=settings)
    assert schedule.next_due(session) is None
    assert send(schedule, session) == 0
    assert recaps(session) == []
    assert recap_deliveries(session) == []


def test_recipients_are_the_opted_in_contacts_by_email_and_destinations(
    session: Session, company: Company
) -> None:
    config = company_config(company)
    found = [(r.contact_key, r.channel, r.to) for r in recap_recipients(config=config)]
    assert found == [
        ("director", Channel.email, "sato@example.jp"),
        ("ops", Channel.slack, "C0123ABCD"),
    ]


def test_a_company_that_opts_in_later_is_seen_by_a_running_schedule(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    schedule = RecapSchedule(settings=settings)
    clock.set(RECAP_DUE)
    assert send(schedule, session) == 0
    clock.advance(timedelta(minutes=1))
    make_company(session, **recap_document())
    assert send(schedule, session) == 1


def _day_of_memos(session: Session, operator: User, clock: ManualClock, company: Company) -> None:
    """Sunday: one memo left open. Monday: an urgent one unseen, one seen, one resolved, a test."""
    clock.set(tokyo(16, 0, day=MONDAY - timedelta(days=1)))
    take_memo(session, operator, urgency="normal", category="inquiry", subject="前日の件")
    clock.set(tokyo(9, 5))
    take_memo(
        session,
        operator,
        urgency="urgent",
        category="complaint",
        caller={"name": "山田 太郎", "phone": "090-1111-2222"},
    )
    clock.set(tokyo(10, 30))
    seen = take_memo(
        session,
        operator,
        category="inquiry",
        caller={"name": "鈴木 花子", "phone": "03-1234-5678"},
    )
    clock.set(tokyo(10, 42))
    acknowledge(session=session, memo_id=seen.id, by="director", via=AckVia.link)
    session.commit()
    clock.set(tokyo(11, 0))
    done = take_memo(session, operator, category="callback", caller={"name": "田中"})
    resolve(
        session=session,
        memo=done,
        data=ResolutionIn(response="折り返し済み", resolved=True),
        by="佐藤 院長",
        via=AckVia.portal,
    )
    session.commit()
    clock.set(tokyo(12, 0))
    sample = take_memo(session, operator, subject="テスト送信")
    session.add(
        CompanyTestSend(
            memo_id=sample.id,
            company_id=company.id,
            contact_key="office",
            channel="email",
            sent_by="admin@relay.example",
            sent_at=clock.now(),
        )
    )
    session.commit()


def _sent_words(session: Session, channel: Channel) -> Delivery:
    [row] = [d for d in recap_deliveries(session) if d.channel == channel]
    return row


def test_the_email_groups_the_day_by_urgency_with_states_and_lists_what_is_open(
    session: Session,
    settings: Settings,
    clock: ManualClock,
    operator: User,
    company: Company,
) -> None:
    _day_of_memos(session, operator, clock, company)
    clock.set(RECAP_DUE)
    assert send(RecapSchedule(settings=settings), session) == 1

    [recap] = recaps(session)
    assert (recap.memos, recap.urgent, recap.unconfirmed, recap.still_open) == (3, 1, 1, 2)
    email = _sent_words(session, Channel.email)
    ja = {
        word: translate("ja", word)
        for word in ("Not confirmed", "Handled", "Urgent", "Normal", "Still open: %(count)d")
    }
    subject = translate(
        "ja", "Today's memos (%(day)s) — %(urgent)d urgent, %(unconfirmed)d not confirmed"
    ) % {"day": "1月5日", "urgent": 1, "unconfirmed": 1}
    assert email.subject == subject
    assert email.locale == "ja"
    text = email.text or ""
    urgent_at = text.index(translate("ja", "%(label)s: %(count)d") % {"label": "至急", "count": 1})
    normal_at = text.index(translate("ja", "%(label)s: %(count)d") % {"label": "通常", "count": 2})
    open_at = text.index(ja["Still open: %(count)d"] % {"count": 2})
    assert urgent_at < normal_at < open_at
    lines = text.splitlines()
    assert (
        f"09:05  {_code(session, '予約時間の行き違い')}  山田 太郎 090-1111-2222  苦情  未確認"
        in lines
    )
    acknowledged = translate("ja", "Acknowledged by %(by)s at %(at)s") % {
        "by": "佐藤 院長",
        "at": "10:42",
    }
    assert any(
        line.endswith(f"鈴木 花子 03-1234-5678  お問い合わせ  {acknowledged}") for line in lines
    )
    assert any(line.endswith(f"田中  折り返し依頼  {ja['Handled']}") for line in lines)
    # Still open from any day: Sunday's memo and Monday's urgent one, the oldest first.
    open_lines = lines[lines.index("■ " + ja["Still open: %(count)d"] % {"count": 2}) + 2 :][:2]
    assert open_lines[0].startswith("1/4 16:00")
    assert open_lines[1].startswith("1/5 09:05")
    assert "テスト送信" not in text and "12:00" not in text
    assert "http://testserver/portal" in text
    assert email.html is not None and "http://testserver/portal" in email.html
    assert "山田 太郎 090-1111-2222" in email.html


def _code(session: Session, subject: str) -> str:
    memo = session.exec(select(Memo).where(Memo.subject == subject)).first()
    session.commit()
    assert memo is not None
    return memo.ack_code


def test_an_overdue_follow_up_is_shown_as_overdue(
    session: Session, settings: Settings, clock: ManualClock, operator: User, company: Company
) -> None:
    clock.set(tokyo(9, 0, day=MONDAY - timedelta(days=7)))
    memo = take_memo(session, operator, category="complaint")
    acknowledge(session=session, memo_id=memo.id, by="director", via=AckVia.link)
    session.commit()
    clock.set(RECAP_DUE)
    assert send(RecapSchedule(settings=settings), session) == 1

    text = _sent_words(session, Channel.email).text or ""
    assert translate("ja", "Follow-up overdue") in text
    assert translate("ja", "No memos were taken today.") in text


def test_many_open_memos_are_capped_with_a_count(
    session: Session, settings: Settings, clock: ManualClock, operator: User, company: Company
) -> None:
    clock.set(tokyo(8, 0))
    for number in range(22):
        take_memo(session, operator, subject=f"件名{number}")
    clock.set(RECAP_DUE)
    assert send(RecapSchedule(settings=settings), session) == 1

    text = _sent_words(session, Channel.email).text or ""
    assert translate("ja", "…and %(count)d more") % {"count": 2} in text
    [recap] = recaps(session)
    assert recap.still_open == 22


def test_an_english_company_gets_it_in_english_in_its_own_zone(
    session: Session, settings: Settings, clock: ManualClock, operator: User
) -> None:
    make_english_company(
        session,
        recap={"at": "17:30", "timezone": "America/New_York"},
        contacts=[
            {"key": "partner", "name": "Ann Lee", "email": "ann@maple.example", "recap": True}
        ],
        routing=[{"notify": ["partner"], "channels": ["email"]}],
        escalation=[],
    )
    # Monday 10:00 in New York (UTC-5).
    clock.set(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))
    take_memo(
        session,
        operator,
        client="maple-law",
        urgency="urgent",
        category="callback",
        caller={"name": "John Roe", "phone": "+12125550100"},
        subject="Call back",
        body="",
    )
    schedule = RecapSchedule(settings=settings)
    clock.set(datetime(2026, 1, 5, 22, 29, 59, tzinfo=UTC))
    assert send(schedule, session) == 0
    clock.set(datetime(2026, 1, 5, 22, 30, tzinfo=UTC))
    assert send(schedule, session) == 1

    email = _sent_words(session, Channel.email)
    assert email.locale == "en"
    assert email.subject == "Today's memos (Jan 5) — 1 urgent, 1 not confirmed"
    text = email.text or ""
    assert text.startswith("Dear Ann Lee,\n")
    assert "Urgent: 1" in text
    assert any(
        line.startswith("10:00  ")
        and line.endswith("John Roe (212) 555-0100  Callback request  Not confirmed")
        for line in text.splitlines()
    )


async def test_the_email_reaches_an_smtp_server_and_the_card_the_outbox(
    session: Session,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    operator: User,
    company: Company,
) -> None:
    _day_of_memos(session, operator, clock, company)
    clock.set(RECAP_DUE)
    assert send(RecapSchedule(settings=settings), session) == 1
    handler = RecordingHandler()
    with smtp_server(handler) as server:
        smtp_settings = settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_tls": "none"}
        )
        dispatcher = Dispatcher(
            engine=engine,
            settings=smtp_settings,
            providers=build_providers(settings=smtp_settings, engine=engine),
            name="test-dispatcher",
            batch_size=100,
        )
        await dispatcher.run_once()

    recap_mail = [m for m in handler.messages() if "1月5日" in str(m["Subject"])]
    [message] = recap_mail
    assert message["To"] == "sato@example.jp"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and "山田 太郎 090-1111-2222" in plain.get_content()
    assert html is not None and "http://testserver/portal" in html.get_content()

    rows = recap_deliveries(session)
    assert {d.status for d in rows} == {DeliveryStatus.sent}
    [card] = session.exec(select(OutboxMessage).where(OutboxMessage.channel == Channel.slack)).all()
    session.commit()
    assert card.to == "C0123ABCD"
    assert card.payload is not None
    payload = ChatPayload.from_json(card.payload)
    assert payload.event == ChatEvent.recap
    assert payload.card.title == rows[0].subject
    assert payload.card.acknowledged  # laid out with no button to press
    assert ("至急", "1") in payload.card.facts
    assert "山田 太郎 090-1111-2222" in payload.card.summary
    assert payload.card.ack_url == "http://testserver/portal"
    assert json.loads(card.payload)["memo"]["still_open"] == 2


def test_recap_deliveries_leave_every_memo_status_alone(
    session: Session, settings: Settings, clock: ManualClock, operator: User, company: Company
) -> None:
    clock.set(tokyo(9, 0))
    memo = take_memo(session, operator)
    clock.set(RECAP_DUE)
    send(RecapSchedule(settings=settings), session)
    session.refresh(memo)
    assert memo.status == MemoStatus.relaying
    session.commit()


def test_a_test_recap_is_sent_now_and_the_days_recap_is_still_owed(
    session: Session, settings: Settings, clock: ManualClock, company: Company
) -> None:
    clock.set(tokyo(11, 0))
    recap, rows = send_test_recap(
        session=session, company=company, requested_by="admin@relay.example", settings=settings
    )
    session.commit()
    assert (recap.test, recap.day, len(rows)) == (True, MONDAY, 2)
    clock.set(RECAP_DUE)
    assert send(RecapSchedule(settings=settings), session) == 1
    assert [r.test for r in recaps(session)] == [True, False]


def test_a_webhook_destination_hears_the_recap_as_an_event_of_its_own(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    make_company(session, **recap_document(destinations=[destination("webhook", recap=True)]))
    clock.set(RECAP_DUE)
    assert send(RecapSchedule(settings=settings), session) == 1

    row = _sent_words(session, Channel.webhook)
    body = event_body(outgoing(delivery=row, settings=settings), at=clock.now())
    assert body["type"] == "recap.daily"
    assert "memo" not in body["data"]
    assert body["data"]["recap"] == {
        "company": "sakura-dental",
        "company_name": "さくら歯科クリニック",
        "day": "2026-01-05",
        "memos": 0,
        "urgent": 0,
        "not_confirmed": 0,
        "still_open": 0,
        "portal_url": "http://testserver/portal",
    }


def test_two_dispatchers_racing_for_a_day_send_it_once(
    session: Session, settings: Settings, clock: ManualClock, company: Company
) -> None:
    clock.set(RECAP_DUE)
    assert send_recap(session=session, company_id=company.id, day=MONDAY, settings=settings)
    # The loser finds the day's row taken: it sends nothing, and its transaction goes on.
    assert not send_recap(session=session, company_id=company.id, day=MONDAY, settings=settings)
    session.commit()
    assert len(recaps(session)) == 1
    assert len(recap_deliveries(session)) == 2


def test_a_recap_that_fails_is_tried_again_later_without_holding_up_the_others(
    session: Session,
    settings: Settings,
    clock: ManualClock,
    company: Company,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = make_company(session, slug="other", name="別の会社", **recap_document())
    made = recap_module.recap_facts

    def broken_for_one(**arguments: Any) -> Any:
        if arguments["company"].id == company.id:
            raise RuntimeError("boom")
        return made(**arguments)

    monkeypatch.setattr(recap_module, "recap_facts", broken_for_one)
    schedule = RecapSchedule(settings=settings)
    clock.set(RECAP_DUE)
    assert send(schedule, session) == 1
    assert [r.company_id for r in recaps(session)] == [other.id]
    assert send(schedule, session) == 0  # the next pass reads the other's row back
    assert schedule.next_due(session) == RECAP_DUE + recap_module.RETRY_AFTER

    monkeypatch.setattr(recap_module, "recap_facts", made)
    clock.advance(recap_module.RETRY_AFTER - timedelta(seconds=1))
    assert send(schedule, session) == 0
    clock.advance(timedelta(seconds=1))
    assert send(schedule, session) == 1
    assert {r.company_id for r in recaps(session)} == {company.id, other.id}


def test_recaps_older_than_the_companys_memos_are_kept_go_with_their_messages(
    session: Session, settings: Settings, clock: ManualClock
) -> None:
    company = make_company(session, **recap_document(retention={"memo_days": 30}))
    schedule = RecapSchedule(settings=settings)
    for day in (MONDAY - timedelta(days=31), MONDAY - timedelta(days=30)):
        clock.set(tokyo(18, day=day))
        assert send(schedule, session) == 1
    assert len(recap_deliveries(session)) == 4

    clock.set(RECAP_DUE)
    assert send(schedule, session) == 1

    kept = recaps(session)
    assert [r.day for r in kept] == [MONDAY - timedelta(days=30), MONDAY]
    assert {d.recap_id for d in recap_deliveries(session)} == {r.id for r in kept}
    assert all(r.company_id == company.id for r in kept)
