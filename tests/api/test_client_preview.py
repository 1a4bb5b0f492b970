"""`POST /api/v1/clients/{slug}/preview` and `/test`: a sample memo as it would go out, and sent."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from service.acks.service import AckVia, acknowledge
from service.audit.models import AuditEntry
from service.channels import Channel
from service.clock import ManualClock
from service.companies import service
from service.companies.models import Company, CompanyTestSend
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.escalation.board import board
from service.escalation.models import EscalationFiring
from service.escalation.service import fire_due
from service.memos.ack_links import read_ack_token
from service.memos.models import Memo
from service.memos.service import memos_from_caller
from service.messages.sms import count_sms
from service.providers.base import ChatEvent, ChatPayload
from service.providers.models import OutboxMessage
from service.providers.registry import build_providers
from service.settings import Settings
from tests.chat import destination, make_chat_company, store_secrets
from tests.factories import company_document, make_english_company
from tests.providers.smtp_server import RecordingHandler, smtp_server
from tests.refusals import refused

URL = "/api/v1/clients/sakura-dental"
# 300 Japanese characters: far more than 3 UCS-2 segments (67 units each) hold.
LONG_JAPANESE = "明日の午前中に折り返しのお電話をいただけますでしょうか。" * 11


def test_a_saved_company_previews_the_sample_memo_on_every_channel(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    response = client.post(f"{URL}/preview", headers=admin_headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert "予約時間の行き違い" in body["email"]["subject"]
    assert "山田 太郎" in body["email"]["text"]
    assert "<html" in body["email"]["html"].lower()
    assert "http://testserver/a/" in body["email"]["text"]
    assert body["sms"]["encoding"] == "UCS-2"
    assert body["sms"]["segments"] == count_sms(text=body["sms"]["text"]).segments
    assert "http://testserver/a/" in body["sms"]["text"]
    # The call-out reads the company's name and asks for a key.
    assert "さくら歯科クリニック" in body["voice"]["text"]
    assert "1" in body["voice"]["text"]


def test_a_long_japanese_sms_is_ucs2_and_kept_within_its_segments(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    response = client.post(
        f"{URL}/preview", json={"memo": {"body": LONG_JAPANESE}}, headers=admin_headers
    )

    sms = response.json()["sms"]
    counted = count_sms(text=sms["text"])
    assert sms["encoding"] == "UCS-2"
    assert (sms["segments"], sms["units"]) == (counted.segments, counted.units)
    assert sms["segments"] == sms["budget"] == 3
    assert 2 * 67 < sms["units"] <= 3 * 67


def test_an_sms_template_override_is_counted_as_it_would_go(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    document = company_document(
        hours=None, templates={"sms": "{{ company }} {{ subject }} {{ ack_code }} {{ ack_url }}"}
    )

    response = client.post(f"{URL}/preview", json={"config": document}, headers=admin_headers)

    sms = response.json()["sms"]
    assert sms["text"].startswith(
        "さくら歯科クリニック 予約時間の行き違い 4821 http://testserver/a/"
    )
    assert (sms["encoding"], sms["segments"]) == ("UCS-2", 2)


def test_an_english_company_previews_in_english_and_gsm7(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    make_english_company(session)

    response = client.post("/api/v1/clients/maple-law/preview", headers=admin_headers)

    body = response.json()
    assert response.status_code == 200, response.text
    assert body["sms"]["encoding"] == "GSM-7"
    assert "Taro Yamada" in body["email"]["text"]
    assert "Mix-up over an appointment time" in body["email"]["subject"]


def test_the_memo_given_replaces_parts_of_the_sample(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    memo = {
        "category": "order",
        "urgency": "normal",
        "caller": {"name": "鈴木 花子", "phone": "03-1234-5678"},
        "subject": "入れ歯の調整",
        "fields": {"patient_no": "A-778"},
    }

    response = client.post(
        f"{URL}/preview", json={"memo": memo, "contact": "office"}, headers=admin_headers
    )

    text = response.json()["email"]["text"]
    assert "鈴木 花子" in text
    assert "03-1234-5678" in text
    assert "入れ歯の調整" in text
    assert "A-778" in text
    assert "受付" in text


def test_an_unsaved_config_is_checked_as_a_save_but_not_saved(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    changed = company_document(hours=None, name="さくら歯科医院")
    broken = company_document(hours=None, contacts=[{"key": "office", "name": "受付"}])

    previewed = client.post(f"{URL}/preview", json={"config": changed}, headers=admin_headers)
    refused_body = refused(
        client.post(f"{URL}/preview", json={"config": broken}, headers=admin_headers),
        status=422,
        code="invalid_company",
    )

    assert "さくら歯科医院" in previewed.json()["email"]["text"]
    assert "contacts.0" in [problem.field for problem in refused_body.errors]
    session.expire_all()
    saved = service.get_company(session=session, slug="sakura-dental")
    assert saved is not None
    assert (saved.version, saved.name) == (1, "さくら歯科クリニック")


def test_a_company_not_saved_yet_is_previewed_at_new(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    document = company_document(slug="hinode-clinic", name="ひので内科")
    del document["slug"]

    previewed = client.post(
        "/api/v1/clients/_new/preview", json={"config": document}, headers=admin_headers
    )
    empty = client.post("/api/v1/clients/_new/preview", json={}, headers=admin_headers)

    assert previewed.status_code == 200, previewed.text
    assert "ひので内科" in previewed.json()["email"]["text"]
    assert refused(empty, status=422).field == "config"


def test_preview_refusals_name_their_field(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    unknown = client.post(f"{URL}/preview", json={"contact": "nobody"}, headers=admin_headers)
    bad_phone = client.post(
        f"{URL}/preview", json={"memo": {"caller": {"phone": "abc"}}}, headers=admin_headers
    )
    bad_urgency = client.post(
        f"{URL}/preview", json={"memo": {"urgency": "soon"}}, headers=admin_headers
    )

    assert refused(unknown, status=422, code="unknown_contact").field == "contact"
    assert refused(bad_phone, status=422, code="bad_phone").field == "memo.caller.phone"
    assert refused(bad_urgency, status=422).field == "memo.urgency"


def test_only_admins_preview_and_send_tests(
    client: TestClient,
    company: Company,
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    for headers in (operator_headers, client_headers):
        assert client.post(f"{URL}/preview", headers=headers).status_code == 403
        test = client.post(f"{URL}/test", json={"contact": "office"}, headers=headers)
        assert test.status_code == 403
    assert client.post(f"{URL}/preview").status_code == 401


@pytest.fixture
def outbox_dispatcher(engine: Engine, settings: Settings, clock: ManualClock) -> Dispatcher:
    """The dispatcher with the dev outbox for every channel, as a fresh install runs."""
    return Dispatcher(
        engine=engine,
        settings=settings,
        providers=build_providers(settings=settings, engine=engine),
        name="test-dispatcher",
    )


async def test_a_test_send_reaches_the_contact_through_the_dispatcher(
    client: TestClient,
    session: Session,
    company: Company,
    admin_headers: dict[str, str],
    outbox_dispatcher: Dispatcher,
) -> None:
    response = client.post(f"{URL}/test", json={"contact": "director"}, headers=admin_headers)
    assert response.status_code == 201, response.text
    answer = response.json()

    await outbox_dispatcher.run_once()

    assert (answer["channel"], answer["to"], answer["contact"]) == (
        "email",
        "sato@example.jp",
        "director",
    )
    [sent] = session.exec(select(OutboxMessage)).all()
    assert (sent.to, sent.delivery_id) == ("sato@example.jp", answer["delivery_id"])
    assert "予約時間の行き違い" in sent.subject
    session.commit()  # the test's read ends before the app writes
    status = client.get(answer["status_url"], headers=admin_headers)
    assert status.status_code == 200, status.text
    [delivery] = status.json()["deliveries"]
    assert (delivery["id"], delivery["status"], delivery["attempts"]) == (
        answer["delivery_id"],
        "sent",
        1,
    )
    assert client.get(answer["trail_url"], headers=admin_headers).status_code == 200


async def test_a_test_email_reaches_an_smtp_server(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    company: Company,
    admin_headers: dict[str, str],
) -> None:
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
        )
        response = client.post(f"{URL}/test", json={"contact": "office"}, headers=admin_headers)
        await dispatcher.run_once()

    assert response.status_code == 201, response.text
    [message] = handler.messages()
    assert message["To"] == "uketsuke@example.jp"
    assert "予約時間の行き違い" in str(message["Subject"])
    delivery = session.get(Delivery, response.json()["delivery_id"])
    assert delivery is not None
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.sent, 1)


async def test_a_test_sms_goes_to_the_contacts_phone(
    client: TestClient,
    session: Session,
    company: Company,
    admin_headers: dict[str, str],
    outbox_dispatcher: Dispatcher,
) -> None:
    response = client.post(
        f"{URL}/test", json={"contact": "director", "channel": "sms"}, headers=admin_headers
    )

    await outbox_dispatcher.run_once()

    assert response.status_code == 201, response.text
    [sent] = session.exec(select(OutboxMessage)).all()
    assert (sent.channel.value, sent.to) == ("sms", "+819012345678")
    assert "予約時間の行き違い" in sent.text


def test_a_test_send_is_audited_and_kept_as_a_test(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    response = client.post(f"{URL}/test", json={"contact": "office"}, headers=admin_headers)

    answer = response.json()
    [entry] = session.exec(
        select(AuditEntry).where(col(AuditEntry.action) == "company.test_sent")
    ).all()
    assert (entry.actor, entry.target, entry.company_id) == (
        "admin@relay.example",
        "company:sakura-dental",
        company.id,
    )
    assert entry.detail["memo_id"] == answer["memo_id"]
    assert (entry.detail["contact"], entry.detail["channel"]) == ("office", "email")
    [test] = session.exec(select(CompanyTestSend)).all()
    assert (test.memo_id, test.sent_by) == (answer["memo_id"], "admin@relay.example")


def test_a_test_memo_never_escalates(
    client: TestClient,
    session: Session,
    company: Company,
    admin_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    answer = client.post(f"{URL}/test", json={"contact": "office"}, headers=admin_headers).json()
    clock.advance(timedelta(hours=2))

    fired = fire_due(session=session, worker="test")
    session.commit()

    memo = session.get(Memo, answer["memo_id"])
    assert memo is not None
    assert memo.next_escalation_at is None
    assert fired == 0
    assert session.exec(select(EscalationFiring)).all() == []
    assert [d.id for d in session.exec(select(Delivery)).all()] == [answer["delivery_id"]]


def test_a_test_send_names_a_contact_and_a_channel_it_can_reach(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    unknown = client.post(f"{URL}/test", json={"contact": "nobody"}, headers=admin_headers)
    no_phone = client.post(
        f"{URL}/test", json={"contact": "office", "channel": "sms"}, headers=admin_headers
    )
    bad_channel = client.post(
        f"{URL}/test", json={"contact": "office", "channel": "fax"}, headers=admin_headers
    )

    assert refused(unknown, status=422, code="unknown_contact").field == "contact"
    assert refused(no_phone, status=422, code="not_reachable").field == "channel"
    assert refused(bad_channel, status=422).field == "channel"
    assert (
        session.exec(select(Delivery).where(Delivery.status == DeliveryStatus.pending)).all() == []
    )


def test_a_test_memo_stays_off_the_board(
    client: TestClient,
    session: Session,
    company: Company,
    admin_headers: dict[str, str],
    operator_headers: dict[str, str],
) -> None:
    client.post(f"{URL}/test", json={"contact": "office"}, headers=admin_headers)
    memo = {
        "client": "sakura-dental",
        "category": "inquiry",
        "urgency": "normal",
        "caller": {"name": "山田 太郎", "phone": "090-1111-2222"},
        "subject": "本物の伝言",
        "body": "折り返しをお願いします。",
    }
    real = client.post("/api/v1/memos", json=memo, headers=operator_headers)
    assert real.status_code == 201, real.text

    waiting = board(session=session).waiting

    assert [item.memo_id for item in waiting] == [real.json()["id"]]


def test_a_test_memo_stays_out_of_the_list_of_memos_and_the_callers_history(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    sent = client.post(f"{URL}/test", json={"contact": "office"}, headers=admin_headers)
    assert sent.status_code == 201, sent.text
    memo_id = sent.json()["memo_id"]

    listed = client.get("/api/v1/memos", headers=admin_headers)

    assert listed.json()["items"] == []
    # Still reachable by its own id, for the trail the admin watches.
    assert client.get(f"/api/v1/memos/{memo_id}", headers=admin_headers).status_code == 200
    test_memo = session.get(Memo, memo_id)
    assert test_memo is not None and test_memo.caller_phone
    assert memos_from_caller(session=session, phone=test_memo.caller_phone) == []
    session.commit()


def test_each_chat_destination_is_previewed_as_its_card(
    client: TestClient, company: Company, admin_headers: dict[str, str], settings: Settings
) -> None:
    document = company_document(
        slug="hinode-clinic",
        name="ひので内科",
        destinations=[
            destination("chatwork", name="サポート室"),
            destination("slack"),
        ],
    )

    saved = client.post(f"{URL}/preview", headers=admin_headers).json()
    previewed = client.post(
        "/api/v1/clients/_new/preview", json={"config": document}, headers=admin_headers
    )

    # A company without destinations keeps the shape it had, with no cards.
    assert saved["chat"] == [] and {"email", "sms", "voice"} <= saved.keys()
    assert previewed.status_code == 200, previewed.text
    room, ops = previewed.json()["chat"]
    assert (room["destination"], room["name"], room["kind"]) == (
        "support-room",
        "サポート室",
        "chatwork",
    )
    assert (ops["destination"], ops["name"], ops["kind"]) == ("ops", "ops", "slack")
    assert room["title"] == "【至急】ひので内科: 予約時間の行き違い"
    assert {"label": "お客様", "value": "山田 太郎"} in room["facts"]
    assert room["code"] == "4821" and room["ack_label"] == "確認しました"
    assert room["mentions"] == ["1234567"] and ops["mentions"] == []
    assert "山田 太郎" in room["text"] and room["ack_url"] in room["text"]
    # Each card's link names its own destination, and no memo.
    for card in (room, ops):
        token = card["ack_url"].removeprefix("http://testserver/a/")
        claim = read_ack_token(secrets=[settings.secret()], token=token)
        assert claim is not None
        assert (claim.memo_id, claim.contact_key) == ("0" * 32, card["destination"])


CHATWORK_TOKEN = "0123456789abcdef0123456789abcdef"


def _test_sends_listed(
    session: Session, client: TestClient, headers: dict[str, str], memo_id: str
) -> list[str]:
    """Every memo id a list of memos, the board or the test caller's history shows."""
    memo = session.get(Memo, memo_id)
    assert memo is not None and memo.caller_phone
    phone = memo.caller_phone
    session.commit()  # the test's reads end before the app reads
    listed = [item["id"] for item in client.get("/api/v1/memos", headers=headers).json()["items"]]
    waiting = [item.memo_id for item in board(session=session).waiting]
    history = [found.id for found, _ in memos_from_caller(session=session, phone=phone)]
    session.commit()
    return listed + waiting + history


async def test_a_test_send_to_a_chatwork_destination_goes_to_the_outbox_as_its_card(
    client: TestClient,
    session: Session,
    admin_headers: dict[str, str],
    outbox_dispatcher: Dispatcher,
) -> None:
    make_chat_company(session, "chatwork")

    response = client.post(f"{URL}/test", json={"contact": "support-room"}, headers=admin_headers)
    await outbox_dispatcher.run_once()

    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["channel"], answer["to"], answer["contact"]) == (
        "chatwork",
        "123456789",
        "support-room",
    )
    memo = session.get(Memo, answer["memo_id"])
    assert memo is not None
    [sent] = session.exec(select(OutboxMessage)).all()
    assert (sent.channel, sent.to, sent.delivery_id) == (
        Channel.chatwork,
        "123456789",
        answer["delivery_id"],
    )
    assert sent.payload is not None
    payload = ChatPayload.from_json(sent.payload)
    assert payload.event == ChatEvent.created
    assert "予約時間の行き違い" in payload.card.title
    assert payload.card.code == memo.ack_code
    assert payload.options["secret"] == "sakura-chatwork"
    [test] = session.exec(select(CompanyTestSend)).all()
    assert (test.memo_id, test.contact_key, test.channel) == (
        answer["memo_id"],
        "support-room",
        "chatwork",
    )
    [entry] = session.exec(
        select(AuditEntry).where(col(AuditEntry.action) == "company.test_sent")
    ).all()
    assert (entry.detail["contact"], entry.detail["channel"]) == ("support-room", "chatwork")
    # Only the room hears of it: nobody else the company's routing names.
    assert [d.id for d in session.exec(select(Delivery)).all()] == [answer["delivery_id"]]
    assert _test_sends_listed(session, client, admin_headers, answer["memo_id"]) == []


async def test_an_acknowledged_test_in_a_room_updates_its_message_and_stays_a_test(
    client: TestClient,
    session: Session,
    admin_headers: dict[str, str],
    outbox_dispatcher: Dispatcher,
) -> None:
    make_chat_company(session, "chatwork")
    answer = client.post(
        f"{URL}/test", json={"contact": "support-room"}, headers=admin_headers
    ).json()
    await outbox_dispatcher.run_once()

    acked = acknowledge(session=session, memo_id=answer["memo_id"], by="佐藤", via=AckVia.chatwork)
    session.commit()
    await outbox_dispatcher.run_once()

    assert acked is not None and acked.first
    session.expire_all()
    # Both rows are made at the same moment of the test's clock: ordered by what they are.
    rows = sorted(session.exec(select(Delivery)).all(), key=lambda d: d.reason != "routing")
    assert [(d.contact_key, d.reason, d.status) for d in rows] == [
        ("support-room", DeliveryReason.routing, DeliveryStatus.sent),
        ("support-room", DeliveryReason.acknowledged, DeliveryStatus.sent),
    ]
    update = session.exec(
        select(OutboxMessage).where(OutboxMessage.delivery_id == rows[1].id)
    ).one()
    assert update.payload is not None
    payload = ChatPayload.from_json(update.payload)
    assert payload.event == ChatEvent.acknowledged and payload.card.acknowledged
    assert _test_sends_listed(session, client, admin_headers, answer["memo_id"]) == []


def test_a_destination_is_tested_on_its_own_platform_only(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    make_chat_company(session, "chatwork")

    other_platform = client.post(
        f"{URL}/test", json={"contact": "support-room", "channel": "slack"}, headers=admin_headers
    )
    by_email = client.post(
        f"{URL}/test", json={"contact": "support-room", "channel": "email"}, headers=admin_headers
    )
    contact_in_a_room = client.post(
        f"{URL}/test", json={"contact": "office", "channel": "chatwork"}, headers=admin_headers
    )
    its_own = client.post(
        f"{URL}/test",
        json={"contact": "support-room", "channel": "chatwork"},
        headers=admin_headers,
    )

    for refusal in (other_platform, by_email, contact_in_a_room):
        assert refused(refusal, status=422, code="not_reachable").field == "channel"
    assert its_own.status_code == 201, its_own.text
    assert [d.contact_key for d in session.exec(select(Delivery)).all()] == ["support-room"]


async def test_a_live_test_send_posts_to_the_chatwork_room_with_the_stored_token(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    admin_headers: dict[str, str],
) -> None:
    make_chat_company(session, "chatwork")
    store_secrets(session, settings, {"sakura-chatwork": CHATWORK_TOKEN})
    live = settings.model_copy(
        update={"chat_delivery": "live", "chatwork_api_base": "https://chatwork.test/v2"}
    )
    dispatcher = Dispatcher(
        engine=engine,
        settings=live,
        providers=build_providers(settings=live, engine=engine),
        name="test-dispatcher",
    )
    response = client.post(f"{URL}/test", json={"contact": "support-room"}, headers=admin_headers)
    assert response.status_code == 201, response.text

    with respx.mock(assert_all_mocked=True) as api:
        room = api.post("https://chatwork.test/v2/rooms/123456789/messages").respond(
            200, json={"message_id": "1928374655918273645"}
        )
        await dispatcher.run_once()

    request = room.calls.last.request
    assert request.headers["x-chatworktoken"] == CHATWORK_TOKEN
    body = parse_qs(request.content.decode())["body"][0]
    assert "予約時間の行き違い" in body and "[To:1234567]" in body
    session.expire_all()
    delivery = session.get(Delivery, response.json()["delivery_id"])
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.provider_id) == (
        DeliveryStatus.sent,
        1,
        "1928374655918273645",
    )


async def test_a_test_send_that_fails_for_good_reaches_no_fallback(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    admin_headers: dict[str, str],
) -> None:
    # The room's token is not set, so the post fails for good; its fallback is a person.
    make_chat_company(
        session, "chatwork", destinations=[destination("chatwork", fallback="director")]
    )
    live = settings.model_copy(
        update={"chat_delivery": "live", "chatwork_api_base": "https://chatwork.test/v2"}
    )
    dispatcher = Dispatcher(
        engine=engine,
        settings=live,
        providers=build_providers(settings=live, engine=engine),
        name="test-dispatcher",
    )
    response = client.post(f"{URL}/test", json={"contact": "support-room"}, headers=admin_headers)
    assert response.status_code == 201, response.text

    with respx.mock(assert_all_mocked=True):
        await dispatcher.run_once()

    session.expire_all()
    rows = session.exec(select(Delivery)).all()
    assert [(d.contact_key, d.status) for d in rows] == [("support-room", DeliveryStatus.failed)]
