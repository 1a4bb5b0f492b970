"""The voice call-out: Relay phones a contact, reads the memo, and takes 1 as acknowledgement."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.app import create_app
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch import delivery_queue, outcomes
from service.dispatch.compose import render_delivery
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.fallback import FALLBACK
from service.dispatch.models import Delivery, DeliveryStatus
from service.memos.models import Memo, MemoStatus
from service.providers.base import SendResult
from service.providers.registry import build_providers, close_providers
from service.settings import Settings
from tests.dispatch.conftest import take_memo
from tests.factories import make_company, make_twilio_settings
from tests.twilio_signing import ACCOUNT_SID, PUBLIC_BASE, post_signed

TWILIO_API = "https://twilio.test"
CALLS_URL = f"{TWILIO_API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CALLER_ID = "+815000000000"
CALL_SID = "CA" + "c" * 32
DIRECTOR_PHONE = "+819012345678"
VOICE_ONLY = [{"notify": ["director"], "channels": ["voice"]}]
WORKER = "test-worker"


def memo_id_of(call: Delivery) -> str:
    """The memo a call-out carries: every one carries a memo."""
    assert call.memo_id is not None
    return call.memo_id


@pytest.fixture
def callout_settings(settings: Settings) -> Settings:
    """Twilio with a caller ID: voice call-outs go through Twilio (answered by respx)."""
    return make_twilio_settings(settings, twilio_sms_from=CALLER_ID, twilio_api_base=TWILIO_API)


@pytest.fixture
def voice_company(session: Session) -> Company:
    return make_company(session, hours=None, routing=VOICE_ONLY)


@pytest.fixture
def client(callout_settings: Settings, engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings=callout_settings, engine=engine)) as test_client:
        yield test_client


def placed_call(session: Session, operator: User, settings: Settings) -> Delivery:
    """A memo whose voice delivery was rendered and accepted by Twilio as CALL_SID."""
    take_memo(session, operator)
    policy = delivery_queue.QueuePolicy()
    [delivery] = delivery_queue.claim_due(session=session, worker=WORKER, limit=10, policy=policy)
    render_delivery(session=session, delivery=delivery, settings=settings)
    outcomes.record_outcome(
        session=session,
        delivery_id=delivery.id,
        result=SendResult.sent(CALL_SID),
        worker=WORKER,
        policy=policy,
    )
    session.commit()
    return delivery


@pytest.fixture
def call(
    session: Session, operator: User, voice_company: Company, callout_settings: Settings
) -> Delivery:
    return placed_call(session, operator, callout_settings)


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def spoken(root: ET.Element) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))


def reload(session: Session, row: Delivery) -> Delivery:
    session.expire_all()
    found = session.get(Delivery, row.id)
    session.commit()
    assert found is not None
    return found


def memo_of(session: Session, delivery: Delivery) -> Memo:
    session.expire_all()
    memo = session.get(Memo, delivery.memo_id)
    session.commit()
    assert memo is not None
    return memo


def answer(client: TestClient, delivery_id: str, call_sid: str = CALL_SID) -> httpx.Response:
    form = {"CallSid": call_sid, "CallStatus": "in-progress", "To": DIRECTOR_PHONE}
    return post_signed(client, f"/twilio/voice/callout?d={delivery_id}", form)


def press(client: TestClient, delivery_id: str, digits: str, *, retry: bool = False) -> ET.Element:
    path = f"/twilio/voice/callout/gather?d={delivery_id}" + ("&retry=1" if retry else "")
    return twiml(post_signed(client, path, {"CallSid": CALL_SID, "Digits": digits}))


def call_ended(client: TestClient, delivery_id: str, word: str) -> httpx.Response:
    form = {"CallSid": CALL_SID, "CallStatus": word, "To": DIRECTOR_PHONE}
    response = post_signed(client, f"/twilio/voice/callout/status?d={delivery_id}", form)
    assert response.status_code == 204
    return response


def assert_reads_the_summary(root: ET.Element, delivery: Delivery) -> None:
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1"
    assert gather.get("method") == "POST"
    assert gather.get("timeout") == "8"
    assert gather.get("action") == f"{PUBLIC_BASE}/twilio/voice/callout/gather?d={delivery.id}"
    say = gather.find("Say")
    assert say is not None
    assert say.get("language") == "ja-JP"
    assert say.text == delivery.text
    assert "予約時間の行き違い" in (say.text or "")
    # No key in time: a polite close, then the line is put down.
    assert [child.tag for child in root] == ["Gather", "Say", "Hangup"]
    assert "確認が取れませんでした" in (root[1].text or "")


# --- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/gather", "/status"])
def test_an_unsigned_webhook_is_refused_and_changes_nothing(
    client: TestClient, session: Session, call: Delivery, path: str
) -> None:
    form = {"CallSid": CALL_SID, "CallStatus": "no-answer", "Digits": "1"}

    unsigned = client.post(f"/twilio/voice/callout{path}?d={call.id}", data=form)
    forged = client.post(
        f"/twilio/voice/callout{path}?d={call.id}",
        data=form,
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )

    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert reload(session, call).status == DeliveryStatus.sent
    assert memo_of(session, call).acknowledged_at is None


def test_without_twilio_the_call_out_routes_are_not_there(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    with TestClient(create_app(settings=settings, engine=engine)) as plain:
        response = plain.post("/twilio/voice/callout?d=x", data={"CallSid": CALL_SID})
    assert response.status_code == 404


# --- answered ---------------------------------------------------------------------------------


def test_answered_reads_the_summary_in_japanese_and_waits_for_one_key(
    client: TestClient, session: Session, call: Delivery
) -> None:
    root = twiml(answer(client, call.id))

    assert_reads_the_summary(root, reload(session, call))
    # Someone picked up: the memo reached the contact.
    delivered = reload(session, call)
    assert (delivered.status, delivered.provider_id) == (DeliveryStatus.delivered, CALL_SID)
    assert memo_of(session, call).status == MemoStatus.delivered


def test_an_english_company_is_read_to_in_english(
    client: TestClient, session: Session, operator: User, callout_settings: Settings
) -> None:
    make_company(session, hours=None, routing=VOICE_ONLY, locale="en")
    delivery = placed_call(session, operator, callout_settings)

    root = twiml(answer(client, delivery.id))

    say = root.find("Gather/Say")
    assert say is not None and say.get("language") == "en-US"
    assert "Press 1 to acknowledge" in (say.text or "")
    assert root[1].get("language") == "en-US"


def test_an_unknown_call_gets_a_polite_goodbye(
    client: TestClient, session: Session, call: Delivery
) -> None:
    root = twiml(answer(client, "0" * 32, call_sid="CA" + "0" * 32))

    assert root.find("Gather") is None
    assert "電話代行サービス" in spoken(root)
    assert root[-1].tag == "Hangup"
    assert reload(session, call).status == DeliveryStatus.sent


def test_a_call_is_also_known_by_its_call_sid(
    client: TestClient, session: Session, call: Delivery
) -> None:
    root = twiml(answer(client, "0" * 32))

    assert_reads_the_summary(root, reload(session, call))


def test_a_memo_acknowledged_before_the_call_is_answered_is_not_read_again(
    client: TestClient, session: Session, call: Delivery
) -> None:
    press(client, call.id, "1")

    root = twiml(answer(client, call.id))

    assert root.find("Gather") is None
    assert "すでに受領確認済み" in spoken(root)


# --- the key ----------------------------------------------------------------------------------


def test_1_acknowledges_via_voice_and_a_second_press_changes_nothing(
    client: TestClient, session: Session, call: Delivery, clock: ManualClock
) -> None:
    answer(client, call.id)

    first = press(client, call.id, "1")

    assert "ありがとうございます。受領を確認いたしました。" in spoken(first)
    assert first[-1].tag == "Hangup"
    memo = memo_of(session, call)
    assert memo.status == MemoStatus.acknowledged
    assert (memo.acknowledged_by, memo.acknowledged_via) == ("director", "voice")
    acknowledged_at = memo.acknowledged_at

    clock.advance(timedelta(minutes=1))
    again = press(client, call.id, "1")

    assert "すでに受領確認済み" in spoken(again)
    assert memo_of(session, call).acknowledged_at == acknowledged_at


def test_2_reads_the_summary_again(client: TestClient, session: Session, call: Delivery) -> None:
    root = press(client, call.id, "2")

    assert_reads_the_summary(root, reload(session, call))
    assert memo_of(session, call).acknowledged_at is None


def test_another_key_asks_once_more_then_closes_without_acknowledging(
    client: TestClient, session: Session, call: Delivery
) -> None:
    asked = press(client, call.id, "9")

    gather = asked.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert gather.get("action") == (
        f"{PUBLIC_BASE}/twilio/voice/callout/gather?d={call.id}&retry=1"
    )
    assert "1を" in spoken(asked) and "2を" in spoken(asked)

    closed = press(client, call.id, "*", retry=True)

    assert closed.find("Gather") is None
    assert "確認が取れませんでした" in spoken(closed)
    assert closed[-1].tag == "Hangup"
    assert memo_of(session, call).acknowledged_at is None


def test_1_after_a_second_chance_still_acknowledges(
    client: TestClient, session: Session, call: Delivery
) -> None:
    press(client, call.id, "#")
    root = press(client, call.id, "1", retry=True)

    assert "受領を確認いたしました" in spoken(root)
    assert memo_of(session, call).acknowledged_via == "voice"


# --- how the call ended -------------------------------------------------------------------------


def test_no_answer_fails_the_call_and_falls_back_to_the_contact_s_other_channel(
    client: TestClient,
    session: Session,
    call: Delivery,
    operator_headers: dict[str, str],
) -> None:
    call_ended(client, call.id, "no-answer")

    failed = reload(session, call)
    assert (failed.status, failed.error_code) == (DeliveryStatus.failed, "no-answer")
    assert failed.error is not None and failed.error.startswith("no-answer")
    rows = delivery_queue.deliveries_of(session=session, memo_id=memo_id_of(call))
    session.commit()
    [fallback] = [d for d in rows if d.id != call.id]
    assert (fallback.contact_key, fallback.reason.value, fallback.status) == (
        "director",
        "fallback",
        DeliveryStatus.pending,
    )
    assert fallback.channel == FALLBACK[call.channel]
    assert fallback.to in (DIRECTOR_PHONE, "sato@example.jp")

    # The memo's trail shows the call and how it ended.
    memo = client.get(f"/api/v1/memos/{call.memo_id}", headers=operator_headers).json()
    [voice] = [d for d in memo["deliveries"] if d["channel"] == "voice"]
    assert (voice["status"], voice["to"], voice["provider_id"]) == (
        "failed",
        DIRECTOR_PHONE,
        CALL_SID,
    )
    assert "no-answer" in voice["error"]


def test_a_replayed_status_changes_nothing(
    client: TestClient, session: Session, call: Delivery, clock: ManualClock
) -> None:
    call_ended(client, call.id, "busy")
    before = reload(session, call)
    count = len(delivery_queue.deliveries_of(session=session, memo_id=memo_id_of(call)))
    session.commit()

    clock.advance(timedelta(minutes=5))
    call_ended(client, call.id, "busy")

    after = reload(session, call)
    assert (after.status, after.error_code, after.updated_at) == (
        DeliveryStatus.failed,
        "busy",
        before.updated_at,
    )
    assert len(delivery_queue.deliveries_of(session=session, memo_id=memo_id_of(call))) == count
    session.commit()


def test_completed_is_delivered_and_a_late_failure_does_not_undo_it(
    client: TestClient, session: Session, call: Delivery
) -> None:
    call_ended(client, call.id, "completed")

    delivered = reload(session, call)
    assert delivered.status == DeliveryStatus.delivered
    assert memo_of(session, call).status == MemoStatus.delivered

    call_ended(client, call.id, "no-answer")

    assert reload(session, call).status == DeliveryStatus.delivered
    assert len(delivery_queue.deliveries_of(session=session, memo_id=memo_id_of(call))) == 1
    session.commit()


def test_progress_words_change_nothing(
    client: TestClient, session: Session, call: Delivery
) -> None:
    call_ended(client, call.id, "ringing")

    assert reload(session, call).status == DeliveryStatus.sent


def test_the_end_of_a_call_whose_send_outcome_was_unknown_settles_it(
    client: TestClient,
    session: Session,
    operator: User,
    voice_company: Company,
    callout_settings: Settings,
) -> None:
    take_memo(session, operator)
    policy = delivery_queue.QueuePolicy()
    [delivery] = delivery_queue.claim_due(session=session, worker=WORKER, limit=10, policy=policy)
    render_delivery(session=session, delivery=delivery, settings=callout_settings)
    session.commit()  # Twilio's answer never came back: the delivery is still `sending`.

    call_ended(client, delivery.id, "completed")

    settled = reload(session, delivery)
    assert (settled.status, settled.provider_id) == (DeliveryStatus.delivered, CALL_SID)


# --- end to end: the dispatcher places the call -------------------------------------------------


async def test_a_memo_routed_to_voice_is_phoned_read_and_acknowledged_by_key(
    client: TestClient,
    session: Session,
    operator: User,
    voice_company: Company,
    callout_settings: Settings,
    engine: Engine,
    operator_headers: dict[str, str],
) -> None:
    memo = take_memo(session, operator, urgency="urgent")
    providers = build_providers(settings=callout_settings, engine=engine)
    dispatcher = Dispatcher(
        engine=engine, settings=callout_settings, providers=providers, name=WORKER
    )
    with respx.mock(assert_all_called=True) as twilio:
        route = twilio.post(CALLS_URL).respond(
            201, json={"sid": CALL_SID, "status": "queued", "to": DIRECTOR_PHONE}
        )
        await dispatcher.run_once()
    await close_providers(providers)

    [delivery] = delivery_queue.deliveries_of(session=session, memo_id=memo.id)
    session.commit()
    assert (delivery.channel.value, delivery.status, delivery.provider_id) == (
        "voice",
        DeliveryStatus.sent,
        CALL_SID,
    )
    form = dict(httpx.QueryParams(route.calls.last.request.content.decode()))
    assert form["To"] == DIRECTOR_PHONE
    assert form["From"] == CALLER_ID
    assert form["Url"] == f"{PUBLIC_BASE}/twilio/voice/callout?d={delivery.id}"
    assert form["StatusCallback"] == f"{PUBLIC_BASE}/twilio/voice/callout/status?d={delivery.id}"
    assert delivery.text is not None and "至急のご伝言" in delivery.text

    assert_reads_the_summary(twiml(answer(client, delivery.id)), delivery)
    press(client, delivery.id, "1")
    call_ended(client, delivery.id, "completed")

    shown = client.get(f"/api/v1/memos/{memo.id}", headers=operator_headers).json()
    assert shown["status"] == "acknowledged"
    assert (shown["acknowledged"]["by"], shown["acknowledged"]["via"]) == ("director", "voice")
    assert [(d["channel"], d["status"]) for d in shown["deliveries"]] == [("voice", "delivered")]
    session.expire_all()
    assert session.exec(select(Memo)).one().acknowledged_via == "voice"
    session.commit()


async def test_a_call_whose_placing_timed_out_is_found_by_look_up_and_never_placed_twice(
    session: Session,
    operator: User,
    voice_company: Company,
    callout_settings: Settings,
    engine: Engine,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    providers = build_providers(settings=callout_settings, engine=engine)
    dispatcher = Dispatcher(
        engine=engine, settings=callout_settings, providers=providers, name=WORKER
    )
    placed_at = format_datetime(clock.now())
    with respx.mock(assert_all_called=True) as twilio:
        create = twilio.post(CALLS_URL).mock(side_effect=httpx.ReadTimeout("timed out"))
        await dispatcher.run_once()
        [delivery] = delivery_queue.deliveries_of(session=session, memo_id=memo.id)
        session.commit()
        assert delivery.status == DeliveryStatus.sending

        clock.advance(timedelta(minutes=3))
        listed = {
            "calls": [
                {
                    "sid": CALL_SID,
                    "to": DIRECTOR_PHONE,
                    "from": CALLER_ID,
                    "direction": "outbound-api",
                    "status": "no-answer",
                    "date_created": placed_at,
                }
            ]
        }
        twilio.get(CALLS_URL).respond(200, json=listed)
        await dispatcher.run_once()
    await close_providers(providers)

    assert create.call_count == 1
    session.expire_all()
    voice, fallback = sorted(
        delivery_queue.deliveries_of(session=session, memo_id=memo.id), key=lambda d: d.created_at
    )
    session.commit()
    assert (voice.status, voice.provider_id) == (DeliveryStatus.failed, CALL_SID)
    assert (fallback.reason.value, fallback.channel) == ("fallback", FALLBACK[voice.channel])
