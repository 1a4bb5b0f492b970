"""The dispatcher against real providers: every outcome, fallback, reconciliation, hours."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
import respx
from sqlmodel import Session, select

from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch import delivery_queue, outcomes
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import DeliveryStatus
from service.memos.models import MemoStatus
from service.providers.models import OutboxMessage
from tests.dispatch.conftest import (
    MESSAGES_URL,
    deliveries,
    memo_status,
    take_memo,
    take_sms_memo,
    twilio_created,
    twilio_error,
    twilio_listed,
    twilio_record,
)
from tests.factories import make_company


async def test_complaint_is_emailed_to_director_and_office(
    session: Session, operator: User, company: Company, dispatcher: Dispatcher
) -> None:
    memo = take_memo(session, operator)

    assert await dispatcher.run_once() >= 2

    rows = deliveries(session, memo)
    assert {(d.contact_key, d.channel.value, d.status.value, d.attempts) for d in rows} == {
        ("director", "email", "sent", 1),
        ("office", "email", "sent", 1),
    }
    assert memo_status(session, memo) == MemoStatus.sent
    sent = session.exec(select(OutboxMessage).order_by(OutboxMessage.to)).all()
    assert [m.to for m in sent] == ["sato@example.jp", "uketsuke@example.jp"]
    assert "予約時間の行き違い" in sent[0].subject
    assert "https://relay.example.jp/a/" in sent[0].text
    assert memo.ack_code in sent[0].text


async def test_sms_goes_to_twilio_with_a_status_callback_naming_the_delivery(
    session: Session, operator: User, dispatcher: Dispatcher, twilio: respx.MockRouter
) -> None:
    route = twilio.post(MESSAGES_URL).mock(return_value=httpx.Response(201, json=twilio_created()))
    memo = take_sms_memo(session, operator)

    await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.provider_id) == (DeliveryStatus.sent, "SM" + "a" * 32)
    form = dict(httpx.QueryParams(route.calls.last.request.content.decode()))
    assert form["To"] == "+819012345678"
    assert form["StatusCallback"] == f"https://relay.example.jp/twilio/sms/status?d={delivery.id}"
    assert memo.ack_code in form["Body"]


async def test_429_is_retried_after_retry_after_and_every_attempt_counts(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    twilio.post(MESSAGES_URL).mock(
        side_effect=[
            httpx.Response(
                429,
                json=twilio_error(20429, "Too Many Requests", 429),
                headers={"Retry-After": "30"},
            ),
            httpx.Response(201, json=twilio_created()),
        ]
    )
    memo = take_sms_memo(session, operator)

    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    assert delivery.status == DeliveryStatus.retrying
    assert delivery.due_at >= clock.now() + timedelta(seconds=30)
    assert memo_status(session, memo) == MemoStatus.relaying

    await dispatcher.run_once()  # not due yet: nothing is sent
    assert deliveries(session, memo)[0].attempts == 1

    clock.advance(timedelta(seconds=31))
    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.sent, 2)


@pytest.mark.parametrize("code", [21211, 21610, 21614])
async def test_permanent_error_is_not_retried_and_falls_back_to_email(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    code: int,
) -> None:
    route = twilio.post(MESSAGES_URL).mock(
        return_value=httpx.Response(400, json=twilio_error(code, "refused"))
    )
    memo = take_sms_memo(session, operator)

    await dispatcher.run_once()
    await dispatcher.run_once()

    sms, email = deliveries(session, memo)
    assert (sms.channel.value, sms.status, sms.attempts, sms.error_code) == (
        "sms",
        DeliveryStatus.failed,
        1,
        str(code),
    )
    assert (email.channel.value, email.reason.value, email.status) == (
        "email",
        "fallback",
        DeliveryStatus.sent,
    )
    assert email.to == "sato@example.jp"
    assert route.call_count == 1
    assert memo_status(session, memo) == MemoStatus.sent


async def test_no_fallback_when_the_contact_already_has_that_channel(
    session: Session,
    operator: User,
    company: Company,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
) -> None:
    twilio.post(MESSAGES_URL).mock(
        return_value=httpx.Response(400, json=twilio_error(21211, "bad To"))
    )
    memo = take_memo(session, operator, urgency="urgent")  # director by sms and email

    await dispatcher.run_once()
    await dispatcher.run_once()

    rows = deliveries(session, memo)
    assert sorted((d.channel.value, d.reason.value, d.status.value) for d in rows) == [
        ("email", "routing", "sent"),
        ("sms", "routing", "failed"),
    ]


async def test_unknown_outcome_is_never_resent_and_the_status_callback_settles_it(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    route = twilio.post(MESSAGES_URL).mock(return_value=httpx.Response(503, text="upstream gone"))
    memo = take_sms_memo(session, operator)

    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    assert delivery.status == DeliveryStatus.sending
    assert "unknown" in (delivery.error or "")

    clock.advance(timedelta(seconds=30))
    await dispatcher.run_once()
    assert route.call_count == 1

    outcomes.advance_status(session=session, delivery=delivery, status=DeliveryStatus.delivered)
    session.commit()
    clock.advance(timedelta(minutes=10))
    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    assert delivery.status == DeliveryStatus.delivered
    assert route.call_count == 1
    assert memo_status(session, memo) == MemoStatus.delivered


@pytest.mark.parametrize("found", [True, False])
async def test_unknown_outcome_is_reconciled_by_looking_it_up(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
    found: bool,
) -> None:
    post = twilio.post(MESSAGES_URL).mock(
        side_effect=[
            httpx.ReadTimeout("no answer"),
            httpx.Response(201, json=twilio_created("SM" + "c" * 32)),
        ]
    )
    memo = take_sms_memo(session, operator)
    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    record = twilio_record(delivery, sid="SM" + "b" * 32, status="delivered")
    twilio.get(MESSAGES_URL).mock(
        return_value=httpx.Response(200, json=twilio_listed(record) if found else twilio_listed())
    )

    clock.advance(timedelta(minutes=3))
    await dispatcher.run_once()
    await dispatcher.run_once()

    rows = deliveries(session, memo)
    if found:
        assert post.call_count == 1  # never sent twice
        assert [(d.status, d.provider_id) for d in rows] == [
            (DeliveryStatus.delivered, "SM" + "b" * 32)
        ]
    else:
        # Twilio has no such message: the timed-out request never created one. Sent now.
        assert post.call_count == 2
        assert [(d.channel.value, d.status, d.provider_id, d.attempts) for d in rows] == [
            ("sms", DeliveryStatus.sent, "SM" + "c" * 32, 2)
        ]


async def test_outside_hours_a_normal_memo_waits_but_an_urgent_one_goes(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    make_company(session)  # Mon–Fri 09:00–18:00 Asia/Tokyo
    twilio.post(MESSAGES_URL).mock(return_value=httpx.Response(201, json=twilio_created()))
    clock.set(datetime.fromisoformat("2026-01-09T22:00:00+09:00"))  # Friday night
    waiting = take_memo(session, operator)
    urgent = take_memo(session, operator, urgency="urgent", subject="水漏れ")

    await dispatcher.run_once()
    assert {d.status for d in deliveries(session, waiting)} == {DeliveryStatus.pending}
    assert {d.due_at for d in deliveries(session, waiting)} == {
        datetime.fromisoformat("2026-01-12T09:00:00+09:00")
    }
    assert {(d.channel.value, d.status) for d in deliveries(session, urgent)} == {
        ("sms", DeliveryStatus.sent),
        ("email", DeliveryStatus.sent),
    }

    clock.set(datetime.fromisoformat("2026-01-12T09:00:01+09:00"))
    await dispatcher.run_once()
    assert {d.status for d in deliveries(session, waiting)} == {DeliveryStatus.sent}


async def test_one_address_gets_at_most_n_per_minute_and_the_rest_wait(
    session: Session, operator: User, company: Company, dispatcher: Dispatcher, clock: ManualClock
) -> None:
    memos = [take_memo(session, operator, category="inquiry") for _ in range(12)]

    for _ in range(3):
        await dispatcher.run_once()
    statuses = [deliveries(session, memo)[0].status for memo in memos]
    assert statuses.count(DeliveryStatus.sent) == 10
    assert statuses.count(DeliveryStatus.pending) == 2

    clock.advance(timedelta(minutes=1, seconds=1))
    await dispatcher.run_once()
    assert all(deliveries(session, memo)[0].status == DeliveryStatus.sent for memo in memos)


async def test_the_throttle_counts_each_address_of_a_batch_on_its_own(
    session: Session, operator: User, company: Company, dispatcher: Dispatcher
) -> None:
    make_company(
        session,
        slug="kaede-law",
        hours=None,
        contacts=[{"key": "office", "name": "受付", "email": "uketsuke@kaede.example.jp"}],
        routing=[{"notify": ["office"], "channels": ["email"]}],
        escalation=[],
    )
    busy = [take_memo(session, operator, category="inquiry") for _ in range(12)]
    quiet = [take_memo(session, operator, client="kaede-law", category="inquiry") for _ in range(3)]

    for _ in range(3):
        await dispatcher.run_once()

    busy_statuses = [deliveries(session, memo)[0].status for memo in busy]
    assert busy_statuses.count(DeliveryStatus.sent) == 10
    assert busy_statuses.count(DeliveryStatus.pending) == 2
    assert all(deliveries(session, memo)[0].status == DeliveryStatus.sent for memo in quiet)


async def test_repeated_connection_failures_give_up_after_the_bound(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    route = twilio.post(MESSAGES_URL).mock(side_effect=httpx.ConnectError("refused"))
    memo = take_sms_memo(session, operator)

    for _ in range(delivery_queue.MAX_ATTEMPTS + 2):
        await dispatcher.run_once()
        clock.advance(outcomes.BACKOFF_CAP + timedelta(seconds=1))

    sms = deliveries(session, memo)[0]
    assert (sms.status, sms.attempts) == (DeliveryStatus.failed, delivery_queue.MAX_ATTEMPTS)
    assert route.call_count == delivery_queue.MAX_ATTEMPTS
