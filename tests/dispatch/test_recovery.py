"""After a crash or an unknown outcome: emails go again under one Message-ID, texts and calls are
looked up (sent now when the provider has no record, asked again when it cannot be asked, never
sent twice), a dead dispatcher's claims are settled at once, and templates render with no
transaction open."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from service import clock as relay_clock
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch import compose, delivery_queue, liveness, outcomes
from service.dispatch.compose import render_delivery
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryStatus, DispatcherHeartbeat
from service.memos.models import Memo, MemoStatus
from service.providers.registry import build_providers
from service.providers.smtp import SmtpEmailProvider
from service.settings import Settings
from tests.dispatch.conftest import (
    MESSAGES_URL,
    TWILIO_API,
    deliveries,
    memo_status,
    take_memo,
    take_sms_memo,
    twilio_created,
    twilio_listed,
    twilio_record,
)
from tests.factories import make_company
from tests.providers.smtp_server import RecordingHandler, smtp_server
from tests.twilio_signing import ACCOUNT_SID

CALLS_URL = f"{TWILIO_API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
EMAIL_ONLY = [{"notify": ["director"], "channels": ["email"]}]
VOICE_ONLY = [{"notify": ["director"], "channels": ["voice"]}]
SMS_SID = "SM" + "b" * 32


def claimed_by_a_dead_dispatcher(
    session: Session, dispatcher: Dispatcher, *, beat: bool = False
) -> Delivery:
    """The one due delivery, claimed and rendered by "dead", which then stopped."""
    if beat:
        liveness.beat(session=session, dispatcher_id="dead")
    [claimed] = delivery_queue.claim_due(
        session=session, worker="dead", limit=10, policy=dispatcher.policy
    )
    render_delivery(session=session, delivery=claimed, settings=dispatcher.settings)
    session.commit()
    return claimed


def use_smtp(dispatcher: Dispatcher, port: int, *, timeout: float = 5.0) -> None:
    dispatcher.providers[Channel.email] = SmtpEmailProvider(
        host="127.0.0.1",
        port=port,
        tls="none",
        mail_from="Relay <relay@relay.example.jp>",
        timeout=timeout,
    )


async def wait_for_mail(handler: RecordingHandler, count: int) -> None:
    for _ in range(200):
        if len(handler.envelopes) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(handler.envelopes)} messages arrived, not {count}")


# --- email: sent again, under the same Message-ID --------------------------------------------


async def test_an_email_whose_outcome_is_unknown_is_sent_again_with_the_same_message_id(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    clock: ManualClock,
) -> None:
    make_company(session, routing=EMAIL_ONLY)
    handler = RecordingHandler(hold_data=1)  # the server keeps it, but never answers
    with smtp_server(handler) as server:
        use_smtp(dispatcher, server.port, timeout=0.2)
        memo = take_memo(session, operator)

        await dispatcher.run_once()
        [delivery] = deliveries(session, memo)
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.retrying, 1)
        assert "same Message-ID" in (delivery.error or "")
        await wait_for_mail(handler, 1)

        clock.advance(outcomes.BACKOFF_BASE)
        await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.sent, 2)
    first, second = handler.messages()
    assert first["Message-ID"] == second["Message-ID"] == f"<relay.{delivery.id}@relay.example.jp>"
    assert delivery.provider_id == first["Message-ID"]


async def test_an_email_claimed_by_a_dead_dispatcher_is_sent_again_at_once_under_its_message_id(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
) -> None:
    make_company(session, routing=EMAIL_ONLY)
    handler = RecordingHandler()
    with smtp_server(handler) as server:
        use_smtp(dispatcher, server.port)
        memo = take_memo(session, operator)
        claimed = claimed_by_a_dead_dispatcher(session, dispatcher)
        # It got as far as handing the message over, then died before writing that down.
        await dispatcher.providers[Channel.email].send(
            compose.outgoing(delivery=claimed, settings=dispatcher.settings)
        )

        await dispatcher.run_once()  # settles the dead claim: sent again, due now
        await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert delivery.status == DeliveryStatus.sent
    ids = {mail["Message-ID"] for mail in handler.messages()}
    assert len(handler.envelopes) == 2 and ids == {f"<relay.{delivery.id}@relay.example.jp>"}
    assert memo_status(session, memo) == MemoStatus.sent


async def test_a_claim_that_died_before_its_words_were_written_is_sent_without_counting_it(
    session: Session, operator: User, company: Company, dispatcher: Dispatcher
) -> None:
    memo = take_memo(session, operator, category="inquiry")  # office by email (dev outbox)
    delivery_queue.claim_due(session=session, worker="dead", limit=10, policy=dispatcher.policy)
    session.commit()

    await dispatcher.run_once()
    await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.sent, 1)


# --- a dead dispatcher: a heartbeat tells ----------------------------------------------------


async def test_a_live_dispatchers_claim_is_left_alone_until_it_stops_beating(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    post = twilio.post(MESSAGES_URL).mock(return_value=httpx.Response(201, json=twilio_created()))
    lookup = twilio.get(MESSAGES_URL).mock(return_value=httpx.Response(200, json=twilio_listed()))
    memo = take_sms_memo(session, operator)
    claimed_by_a_dead_dispatcher(session, dispatcher, beat=True)

    clock.advance(liveness.DEAD_AFTER - timedelta(seconds=1))
    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.claimed_by) == (DeliveryStatus.sending, "dead")
    assert lookup.call_count == 0

    clock.advance(timedelta(seconds=2))  # no beat for longer than DEAD_AFTER: dead
    await dispatcher.run_once()
    await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert (delivery.status, lookup.call_count, post.call_count) == (DeliveryStatus.sent, 1, 1)


async def test_on_sqlite_a_dispatcher_that_takes_over_knows_the_others_are_dead(
    engine: Engine, session: Session, dispatcher: Dispatcher
) -> None:
    lock = liveness.SqliteDispatcherLock.for_engine(engine)
    if lock is None:
        pytest.skip("PostgreSQL: dispatchers run side by side, told dead by their heartbeats")
    liveness.beat(session=session, dispatcher_id="before-the-restart")
    session.commit()
    other = liveness.SqliteDispatcherLock.for_engine(engine)
    assert other is not None
    assert lock.try_acquire()
    assert not other.try_acquire()  # one dispatcher on SQLite at a time

    gone = liveness.start(session=session, dispatcher_id=dispatcher.name, alone=True)
    session.commit()
    lock.release()

    assert gone == 1
    assert session.exec(select(DispatcherHeartbeat.id)).all() == [dispatcher.name]
    assert other.try_acquire()
    other.release()


async def test_a_dispatcher_beats_while_it_runs_and_leaves_when_it_stops(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    dispatcher.heartbeat_seconds = 0.05
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    seen: list[str] = []
    for _ in range(100):
        await asyncio.sleep(0.02)
        with Session(engine) as check:
            seen = list(check.exec(select(DispatcherHeartbeat.id)).all())
            check.commit()
        if seen:
            break
    stop.set()
    await task

    assert seen == [dispatcher.name]
    with Session(engine) as check:
        assert check.exec(select(DispatcherHeartbeat)).all() == []


async def test_on_sqlite_a_second_dispatcher_waits_until_the_first_stops(
    engine: Engine, settings: Settings, dispatcher: Dispatcher
) -> None:
    if liveness.SqliteDispatcherLock.for_engine(engine) is None:
        pytest.skip("PostgreSQL: dispatchers run side by side")
    second = Dispatcher(
        engine=engine,
        settings=settings,
        providers=build_providers(settings=settings, engine=engine),
        name="second",
        heartbeat_seconds=0.05,
    )
    dispatcher.heartbeat_seconds = 0.05
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(dispatcher.run(first_stop))

    async def registered() -> list[str]:
        for _ in range(100):
            await asyncio.sleep(0.02)
            with Session(engine) as check:
                names = sorted(check.exec(select(DispatcherHeartbeat.id)).all())
                check.commit()
            if names:
                return names
        return []

    assert await registered() == [dispatcher.name]
    waiting = asyncio.create_task(second.run(second_stop))
    await asyncio.sleep(0.3)
    assert await registered() == [dispatcher.name]  # the second one waits

    first_stop.set()
    await first
    for _ in range(100):
        if await registered() == ["second"]:
            break
    assert await registered() == ["second"]
    second_stop.set()
    await waiting


# --- SMS: looked up, never sent twice --------------------------------------------------------


@pytest.mark.parametrize("on_record", [True, False])
async def test_a_dead_dispatchers_sms_is_looked_up_and_sent_only_when_twilio_has_none(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    on_record: bool,
) -> None:
    post = twilio.post(MESSAGES_URL).mock(return_value=httpx.Response(201, json=twilio_created()))
    memo = take_sms_memo(session, operator)
    claimed = claimed_by_a_dead_dispatcher(session, dispatcher)
    record = twilio_record(claimed, sid=SMS_SID, status="sent")
    lookup = twilio.get(MESSAGES_URL).mock(
        return_value=httpx.Response(
            200, json=twilio_listed(record) if on_record else twilio_listed()
        )
    )

    await dispatcher.run_once()
    await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert lookup.call_count == 1
    if on_record:
        assert (delivery.status, delivery.provider_id, post.call_count) == (
            DeliveryStatus.sent,
            SMS_SID,
            0,
        )
    else:
        # Twilio never created it: it is sent now, once.
        assert (delivery.status, delivery.provider_id, post.call_count) == (
            DeliveryStatus.sent,
            "SM" + "a" * 32,
            1,
        )
        form = dict(httpx.QueryParams(post.calls.last.request.content.decode()))
        assert form["Body"] == claimed.text
    assert memo_status(session, memo) == MemoStatus.sent


async def test_an_sms_lookup_that_cannot_reach_twilio_is_asked_again_later_not_failed(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    post = twilio.post(MESSAGES_URL).mock(side_effect=httpx.ReadTimeout("no answer"))
    memo = take_sms_memo(session, operator)
    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    lookup = twilio.get(MESSAGES_URL).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503, text="upstream gone"),
            httpx.Response(
                200,
                json=twilio_listed(twilio_record(delivery, sid=SMS_SID, status="sent")),
            ),
        ]
    )

    clock.advance(dispatcher.policy.reconcile_after + timedelta(seconds=1))
    await dispatcher.run_once()
    assert memo_status(session, memo) == MemoStatus.relaying
    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.claimed_by) == (DeliveryStatus.sending, None)
    assert "checking with the provider again" in (delivery.error or "")
    assert "could not reach Twilio" in (delivery.error or "")
    assert delivery.deadline is not None
    asked_again_at = delivery.deadline

    await dispatcher.run_once()  # not yet: nobody asks before the deadline
    assert lookup.call_count == 1

    clock.set(asked_again_at + timedelta(seconds=1))
    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    assert delivery.status == DeliveryStatus.sending
    assert "HTTP 503" in (delivery.error or "")
    assert delivery.deadline is not None and delivery.deadline - asked_again_at >= timedelta(
        seconds=30
    )

    clock.set(delivery.deadline + timedelta(seconds=1))
    await dispatcher.run_once()
    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.provider_id, delivery.error) == (
        DeliveryStatus.sent,
        SMS_SID,
        None,
    )
    assert (post.call_count, lookup.call_count) == (1, 3)


async def test_an_sms_twilio_cannot_be_asked_about_for_long_fails_visibly_and_falls_back(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    post = twilio.post(MESSAGES_URL).mock(return_value=httpx.Response(502, text="bad gateway"))
    lookup = twilio.get(MESSAGES_URL).mock(side_effect=httpx.ConnectTimeout("no route"))
    memo = take_sms_memo(session, operator)
    await dispatcher.run_once()
    started = clock.now()

    while clock.now() - started < dispatcher.policy.give_up_asking_after + timedelta(minutes=15):
        clock.advance(dispatcher.policy.ask_again_max)
        await dispatcher.run_once()

    sms, email = deliveries(session, memo)
    assert (sms.status, email.channel, email.reason.value, email.status) == (
        DeliveryStatus.failed,
        Channel.email,
        "fallback",
        DeliveryStatus.sent,
    )
    assert sms.error is not None
    assert "not sent again" in sms.error and sms.to in sms.error
    assert post.call_count == 1
    assert lookup.call_count >= 3  # asked again and again before giving up


# --- voice: the attempt's time is kept with the delivery -------------------------------------


async def test_a_dead_dispatchers_call_is_found_by_a_new_process_and_not_placed_again(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
    clock: ManualClock,
) -> None:
    make_company(session, routing=VOICE_ONLY)
    place = twilio.post(CALLS_URL).mock(
        return_value=httpx.Response(201, json={"sid": "CA" + "1" * 32})
    )
    memo = take_memo(session, operator)
    claimed = claimed_by_a_dead_dispatcher(session, dispatcher)
    assert claimed.attempted_at == clock.now()
    call = {
        "sid": "CA" + "2" * 32,
        "to": claimed.to,
        "from": dispatcher.settings.twilio_sms_from,
        "direction": "outbound-api",
        "status": "in-progress",
        "date_created": format_datetime(clock.now() + timedelta(seconds=1)),
    }
    lookup = twilio.get(CALLS_URL).mock(
        return_value=httpx.Response(200, json={"calls": [call], "next_page_uri": None})
    )
    clock.advance(timedelta(seconds=20))

    await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert (delivery.status, delivery.provider_id) == (DeliveryStatus.sent, "CA" + "2" * 32)
    assert (place.call_count, lookup.call_count) == (0, 1)


# --- rendering: no transaction open ----------------------------------------------------------


async def test_templates_render_with_no_transaction_open(
    engine: Engine,
    session: Session,
    operator: User,
    company: Company,
    dispatcher: Dispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    memo = take_memo(session, operator, category="inquiry")
    [pending] = deliveries(session, memo)
    real_render = compose.render_memo_message
    wrote_meanwhile: list[bool] = []

    def write_the_delivery() -> None:
        # What a status callback or an operator's request does: a write of its own.
        with Session(engine) as other:
            other.execute(
                update(Delivery)
                .where(col(Delivery.id) == pending.id)
                .values(updated_at=relay_clock.now())
            )
            other.commit()

    def slow_render(**kwargs: Any) -> Any:
        writer = threading.Thread(target=write_the_delivery)
        writer.start()
        writer.join(timeout=3)
        wrote_meanwhile.append(not writer.is_alive())
        rendered = real_render(**kwargs)
        writer.join()
        return rendered

    monkeypatch.setattr(compose, "render_memo_message", slow_render)

    await dispatcher.run_once()

    assert wrote_meanwhile == [True]
    [delivery] = deliveries(session, memo)
    assert delivery.status == DeliveryStatus.sent
    assert delivery.text is not None and memo.ack_code in delivery.text


async def test_the_words_are_written_before_the_provider_is_called(
    engine: Engine,
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    twilio: respx.MockRouter,
) -> None:
    stored: list[str | None] = []

    def twilio_answers(request: httpx.Request) -> httpx.Response:
        with Session(engine) as other:
            stored.append(other.exec(select(Delivery.text)).one())
            other.commit()
        return httpx.Response(201, json=twilio_created())

    route = twilio.post(MESSAGES_URL).mock(side_effect=twilio_answers)
    take_sms_memo(session, operator)

    await dispatcher.run_once()

    body = dict(httpx.QueryParams(route.calls.last.request.content.decode()))["Body"]
    assert stored == [body]


async def test_a_template_that_cannot_render_fails_with_its_reason(
    session: Session,
    operator: User,
    company: Company,
    dispatcher: Dispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.messages.render import TemplateError

    def broken(**kwargs: Any) -> Any:
        raise TemplateError(reason="undefined variable 'patient'")

    monkeypatch.setattr(compose, "render_memo_message", broken)
    memo = take_memo(session, operator, category="inquiry")

    await dispatcher.run_once()

    [delivery] = deliveries(session, memo)
    assert delivery.status == DeliveryStatus.failed
    assert delivery.error == "the message could not be formatted: undefined variable 'patient'"
    session.expire_all()
    stored = session.get(Memo, memo.id)
    assert stored is not None and stored.status == MemoStatus.failed
    session.commit()
