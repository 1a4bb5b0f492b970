"""memo.failed: a webhook destination told of a memo hears when one of its messages fails for good."""

from __future__ import annotations

import json
from typing import Any

import respx
from sqlmodel import Session, select

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.channels import Channel
from service.dispatch.chat_updates import enqueue_failed
from service.dispatch.compose import render_delivery
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.dispatch.outcomes import fail
from service.memos.models import Memo
from service.providers.base import ChatEvent, ChatPayload
from service.providers.chat.webhook import FAILED_KEY
from service.providers.models import OutboxMessage
from service.settings import Settings
from tests.chat import destination, make_chat_company
from tests.dispatch.conftest import MESSAGES_URL, deliveries, take_memo, twilio_error

# The director by SMS and the CRM by webhook; the director's email is the SMS's fallback.
SMS_AND_CRM = [{"notify": ["director", "crm"], "channels": ["sms", "webhook"]}]
ZAPIER = destination("webhook", key="zapier", url="https://hooks.example.com/relay")


def _failed_events(session: Session, memo: Memo) -> list[Delivery]:
    return [d for d in deliveries(session, memo) if d.reason == DeliveryReason.memo_failed]


def _one(rows: list[Delivery], **match: Any) -> Delivery:
    [row] = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    return row


def _fail(session: Session, delivery_id: str, error: str = "refused") -> None:
    """Fail one delivery for good, as the dispatcher would, and commit."""
    row = session.get(Delivery, delivery_id)
    assert row is not None
    row.error = error
    fail(session=session, delivery=row)
    session.commit()


async def test_an_sms_that_fails_for_good_sends_the_crm_one_memo_failed_event_naming_it(
    session: Session, operator: User, dispatcher: Dispatcher, twilio: respx.MockRouter
) -> None:
    twilio.post(MESSAGES_URL).respond(400, json=twilio_error(21211, "Invalid 'To' Phone Number"))
    make_chat_company(session, "webhook", routing=SMS_AND_CRM)
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    rows = deliveries(session, memo)
    created = _one(rows, channel=Channel.webhook, reason=DeliveryReason.routing)
    sms = _one(rows, channel=Channel.sms)
    assert sms.status == DeliveryStatus.failed and created.status == DeliveryStatus.sent
    [event] = _failed_events(session, memo)
    assert (event.contact_key, event.channel, event.to) == ("crm", Channel.webhook, created.to)
    assert event.status == DeliveryStatus.pending
    assert created.payload is not None and event.payload is not None
    before, after = ChatPayload.from_json(created.payload), ChatPayload.from_json(event.payload)
    assert after.event == ChatEvent.failed and after.card == before.card
    assert after.options == before.options and after.replaces is None
    failure = after.memo.pop(FAILED_KEY)
    assert failure["delivery"] == sms.id
    assert (failure["contact"], failure["channel"], failure["reason"]) == (
        "director",
        "sms",
        "routing",
    )
    assert failure["error_code"] == "21211" and "Invalid 'To'" in failure["error"]
    assert "+819012345678" not in json.dumps(failure)  # the contact's address stays ours
    assert {k: v for k, v in after.memo.items() if k != "status"} == {
        k: v for k, v in before.memo.items() if k != "status"
    }

    await dispatcher.run_once()

    [event] = _failed_events(session, memo)
    assert event.status == DeliveryStatus.sent
    kept = session.exec(select(OutboxMessage).where(OutboxMessage.delivery_id == event.id)).one()
    assert kept.payload is not None and json.loads(kept.payload)["event"] == "memo.failed"


async def test_a_second_failure_of_the_same_memo_tells_the_crm_nothing_more(
    session: Session, operator: User, dispatcher: Dispatcher, twilio: respx.MockRouter
) -> None:
    twilio.post(MESSAGES_URL).respond(400, json=twilio_error(21211, "Invalid 'To' Phone Number"))
    make_chat_company(session, "webhook", routing=SMS_AND_CRM)
    memo = take_memo(session, operator)
    await dispatcher.run_once()
    fallback = _one(deliveries(session, memo), reason=DeliveryReason.fallback)

    _fail(session, fallback.id, "RCPT TO: 550 no such user")

    [event] = _failed_events(session, memo)
    assert event.payload is not None
    failure = ChatPayload.from_json(event.payload).memo[FAILED_KEY]
    assert failure["channel"] == "sms"


async def test_each_webhook_destination_hears_once_but_never_of_its_own_failure(
    session: Session, operator: User, dispatcher: Dispatcher
) -> None:
    make_chat_company(session, "webhook", extra=[ZAPIER])
    memo = take_memo(session, operator)
    await dispatcher.run_once()
    crm = _one(deliveries(session, memo), contact_key="crm", reason=DeliveryReason.routing)

    _fail(session, crm.id, "HTTP 410")

    [event] = _failed_events(session, memo)
    assert (event.contact_key, event.to) == ("zapier", "https://hooks.example.com/relay")
    assert event.payload is not None
    assert ChatPayload.from_json(event.payload).memo[FAILED_KEY]["contact"] == "crm"


async def test_an_email_failure_tells_every_webhook_destination_told_of_the_memo(
    session: Session, operator: User, dispatcher: Dispatcher
) -> None:
    make_chat_company(session, "webhook", extra=[ZAPIER])
    memo = take_memo(session, operator)
    await dispatcher.run_once()
    email = _one(deliveries(session, memo), channel=Channel.email)

    _fail(session, email.id)

    assert sorted(d.contact_key for d in _failed_events(session, memo)) == ["crm", "zapier"]


def test_a_destination_whose_memo_created_has_not_gone_out_is_not_told(
    session: Session, operator: User, settings: Settings
) -> None:
    make_chat_company(session, "webhook")
    memo = take_memo(session, operator)
    rows = deliveries(session, memo)
    crm = _one(rows, channel=Channel.webhook)
    email = _one(rows, channel=Channel.email)
    crm_row = session.get(Delivery, crm.id)
    assert crm_row is not None
    render_delivery(session=session, delivery=crm_row, settings=settings)
    crm_row.status = DeliveryStatus.retrying  # refused the first time, not taken yet
    session.commit()

    _fail(session, email.id)

    assert _failed_events(session, memo) == []


async def test_after_an_acknowledgement_a_failure_tells_nobody(
    session: Session, operator: User, dispatcher: Dispatcher
) -> None:
    make_chat_company(session, "webhook")
    memo = take_memo(session, operator)
    await dispatcher.run_once()
    acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    session.commit()
    email = _one(deliveries(session, memo), channel=Channel.email)

    _fail(session, email.id)

    assert _failed_events(session, memo) == []


async def test_a_report_on_the_memo_that_fails_is_no_news_of_the_memo(
    session: Session, operator: User, dispatcher: Dispatcher
) -> None:
    make_chat_company(session, "webhook", extra=[ZAPIER])
    memo = take_memo(session, operator)
    await dispatcher.run_once()
    email = _one(deliveries(session, memo), channel=Channel.email)
    _fail(session, email.id)
    zapier = _one(_failed_events(session, memo), contact_key="zapier")

    _fail(session, zapier.id, "HTTP 404")

    assert sorted(d.contact_key for d in _failed_events(session, memo)) == ["crm", "zapier"]
    row = session.get(Delivery, zapier.id)
    assert row is not None
    row.reason = DeliveryReason.acknowledged
    assert enqueue_failed(session=session, failed=row) == []
    session.rollback()
