"""/dev/outbox: what would have been sent, for operators and admins, while the outbox is used."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch.delivery_queue import QueuePolicy
from service.dispatch.dispatcher import Dispatcher
from service.memos.models import Memo, MemoStatus
from service.providers import outbox, registry
from service.providers.base import OutgoingMessage
from service.providers.chat import CHAT_PREVIEWS
from service.providers.registry import build_providers
from service.reports.recap import send_recap
from service.settings import Settings
from service.web.outbox_pages import linkify
from tests.chat import destination, make_chat_company
from tests.dispatch.conftest import take_memo
from tests.factories import csrf_from, make_outgoing_message
from tests.people import sign_in

ACK_LINK = "http://testserver/a/eyJtIjoiMTIzIn0.sig-_x"
SMS_TEXT = f"【至急】さくら歯科：山田様より苦情。確認はこちら {ACK_LINK}。"
EMAIL_HTML = (
    '<p>山田様より<strong>苦情</strong>がありました。</p><script>alert("x")</script>'
    f'<p><a href="{ACK_LINK}">確認する</a></p>'
)


def store(session: Session, **fields: object) -> None:
    outbox.store_message(session=session, message=make_outgoing_message(**fields))
    session.commit()


def store_sms_and_email(session: Session, clock: ManualClock) -> None:
    store(session, delivery_id="1" * 32, text=SMS_TEXT)
    clock.advance(timedelta(minutes=1))
    store(
        session,
        delivery_id="2" * 32,
        channel=Channel.email,
        to="sato@example.jp",
        subject="【苦情】予約時間の行き違い",
        text=f"山田様より苦情がありました。\n確認: {ACK_LINK}",
        html=EMAIL_HTML,
    )


@pytest.mark.parametrize("person", ["operator", "admin"])
def test_staff_see_the_sms_as_a_bubble_with_a_working_link(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    person: str,
    request: pytest.FixtureRequest,
) -> None:
    store_sms_and_email(session, clock)
    sign_in(client, request.getfixturevalue(person))

    page = client.get("/dev/outbox")

    assert page.status_code == 200
    assert "開発用送信箱" in page.text
    sms = page.text[page.text.index('data-channel="sms"') :]
    assert "+819012345678" in sms
    assert '<div class="bubble">【至急】さくら歯科：山田様より苦情。確認はこちら ' in sms
    # The link stops before the Japanese full stop, so clicking it opens the acknowledgement.
    assert f'<a href="{ACK_LINK}">{ACK_LINK}</a>。' in sms
    assert f"{len(SMS_TEXT)} 文字" in sms
    assert "1 通" in sms and "(UCS-2)" in sms
    assert "2026-01-05 09:00:00 JST" in sms  # 00:00 UTC shown in Japan time


def test_newest_message_comes_first(
    client: TestClient, session: Session, clock: ManualClock, operator: User
) -> None:
    store_sms_and_email(session, clock)
    sign_in(client, operator)

    page = client.get("/dev/outbox").text

    assert page.index('data-channel="email"') < page.index('data-channel="sms"')


def test_email_html_is_escaped_into_a_sandboxed_iframe(
    client: TestClient, session: Session, clock: ManualClock, admin: User
) -> None:
    store_sms_and_email(session, clock)
    sign_in(client, admin)

    page = client.get("/dev/outbox").text

    assert "【苦情】予約時間の行き違い" in page
    assert "sato@example.jp" in page
    assert "<script>" not in page  # only escaped, inside srcdoc
    iframe = re.search(r"<iframe[^>]*>", page)
    assert iframe is not None
    tag = iframe.group(0)
    sandbox = re.search(r'sandbox="([^"]*)"', tag)
    assert sandbox is not None
    assert "allow-scripts" not in sandbox.group(1)
    assert "allow-same-origin" not in sandbox.group(1)
    srcdoc = re.search(r'srcdoc="([^"]*)"', tag)
    assert srcdoc is not None
    assert html.unescape(srcdoc.group(1)) == '<base target="_blank">' + EMAIL_HTML
    # The plain-text part is shown too, with its link clickable.
    assert f'確認: <a href="{ACK_LINK}">' in page


def test_a_client_user_is_refused(
    client: TestClient, session: Session, clock: ManualClock, client_user: User
) -> None:
    store_sms_and_email(session, clock)
    sign_in(client, client_user)

    page = client.get("/dev/outbox")
    listing = client.get("/dev/outbox.json")

    assert page.status_code == 403
    assert SMS_TEXT not in page.text
    assert "オペレーターと管理者のみ" in page.text
    assert listing.status_code == 403


def test_signed_out_the_page_asks_to_sign_in_and_the_json_is_401(client: TestClient) -> None:
    page = client.get("/dev/outbox", follow_redirects=False)

    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fdev%2Foutbox"
    assert client.get("/dev/outbox.json").status_code == 401


def test_json_lists_the_latest_messages_for_tools(
    client: TestClient, session: Session, clock: ManualClock, operator_headers: dict[str, str]
) -> None:
    store_sms_and_email(session, clock)
    headers = operator_headers

    every = client.get("/dev/outbox.json", headers=headers).json()["items"]
    sms = client.get("/dev/outbox.json?channel=sms", headers=headers).json()["items"]
    one = client.get("/dev/outbox.json?limit=1", headers=headers).json()["items"]

    assert [item["channel"] for item in every] == ["email", "sms"]
    assert every[0]["html"] == EMAIL_HTML
    assert every[0]["subject"] == "【苦情】予約時間の行き違い"
    [only_sms] = sms
    assert only_sms["text"] == SMS_TEXT
    assert only_sms["to"] == "+819012345678"
    assert only_sms["delivery_id"] == "1" * 32
    assert only_sms["created_at"] == "2026-01-05T00:00:00+00:00"
    assert only_sms["segments"] == 1
    assert [item["channel"] for item in one] == ["email"]
    assert client.get("/dev/outbox.json?limit=0", headers=headers).status_code == 422
    assert client.get("/dev/outbox.json?channel=fax", headers=headers).status_code == 422


@pytest.fixture
def real_client(settings: Settings, engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    """An app with Twilio (a Messaging Service, so no caller ID for voice), SMTP and the chat
    platforms configured."""
    real = settings.model_copy(
        update={
            "twilio_account_sid": "AC" + "0" * 32,
            "twilio_auth_token": "token",
            "twilio_messaging_service_sid": "MG" + "0" * 32,
            "smtp_host": "mail.example.jp",
            "chat_delivery": "live",
        }
    )
    with TestClient(create_app(settings=real, engine=engine)) as test_client:
        yield test_client


def test_with_real_sms_and_email_the_page_still_shows_voice(
    real_client: TestClient, session: Session, clock: ManualClock, operator: User
) -> None:
    store(session, channel=Channel.voice, text="さくら歯科様、伝言が1件あります。")
    sign_in(real_client, operator)

    page = real_client.get("/dev/outbox")

    assert page.status_code == 200
    assert "<strong>音声通話</strong>" in page.text
    assert "伝言が1件あります" in page.text


def test_the_page_does_not_exist_when_no_channel_uses_the_outbox(
    real_client: TestClient, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Voice stays in the outbox without a caller ID; stand in for a configured one.
    monkeypatch.setattr(registry, "_voice_backend", lambda settings: registry.Backend.twilio)
    sign_in(real_client, admin)

    assert real_client.get("/dev/outbox").status_code == 404
    assert real_client.get("/dev/outbox.json").status_code == 404


def test_linkify_escapes_and_links_only_http_urls() -> None:
    text = '<b>"確認"</b> https://relay.example.jp/a/x?y=1&z=2). javascript:alert(1) 完了'

    rendered = str(linkify(text))

    assert rendered.startswith("&lt;b&gt;&#34;確認&#34;&lt;/b&gt; ")
    assert (
        '<a href="https://relay.example.jp/a/x?y=1&amp;z=2">'
        "https://relay.example.jp/a/x?y=1&amp;z=2</a>). javascript:alert(1) 完了"
    ) in rendered
    assert rendered.count("<a ") == 1


def test_an_english_reader_gets_english_counts_with_plurals(
    client: TestClient, session: Session, clock: ManualClock, operator: User
) -> None:
    store(session, delivery_id="3" * 32, text="Call Jane back")
    store(session, delivery_id="4" * 32, text="x" * 200)
    sign_in(client, operator)

    page = client.get("/dev/outbox", headers={"Accept-Language": "en-US"}).text
    words = " ".join(page.split())

    assert "<h1>Dev outbox</h1>" in page and "開発用送信箱" not in page
    assert "14 characters · 1 segment (GSM-7)" in words
    assert "200 characters · 2 segments (GSM-7)" in words


# Chat messages: cards as their platform shows them, and the flow with no account anywhere.


def _dispatcher(engine: Engine, settings: Settings) -> Dispatcher:
    return Dispatcher(
        engine=engine,
        settings=settings,
        providers=build_providers(settings=settings, engine=engine),
        policy=QueuePolicy(per_destination_per_minute=10),
        name="test-outbox-dispatcher",
    )


def _card(page: str, channel: str, *, index: int = 0) -> str:
    """The HTML of the `index`-th outbox row of `channel`, newest first."""
    rows = page.split('<li class="card outbox-message')[1:]
    mine = [row for row in rows if f'data-channel="{channel}"' in row]
    return mine[index]


def _memo(session: Session, memo_id: str) -> Memo:
    session.expire_all()
    memo = session.get(Memo, memo_id)
    session.commit()
    assert memo is not None
    return memo


async def test_a_slack_card_pressed_in_the_outbox_acknowledges_and_the_update_lands_there(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    operator: User,
) -> None:
    make_chat_company(session, "slack", extra=[destination("chatwork", name="サポート室")])
    memo = take_memo(session, operator)
    dispatcher = _dispatcher(engine, settings)
    await dispatcher.run_once()
    sign_in(client, operator)

    page = client.get("/dev/outbox").text
    slack = _card(page, "slack")

    assert "予約時間の行き違い" in slack and "山田 太郎" in slack
    assert f"<strong>{memo.ack_code}</strong>" in slack
    assert 'class="destination">ops</strong>' in slack
    assert '<span class="button ack-button" aria-hidden="true">確認しました</span>' in slack
    action = re.search(r'<form class="dev-action" method="post" action="([^"]+)"', slack)
    assert action is not None
    # Chatwork has no button: its card shows the code and the link, and one replies the code.
    chatwork = _card(page, "chatwork")
    assert "ack-button" not in chatwork
    assert f"<strong>{memo.ack_code}</strong>" in chatwork and "/a/" in chatwork
    assert "[To:1234567]" in chatwork
    assert 'class="destination">サポート室</strong>' in chatwork  # its name, not its key
    clock.advance(timedelta(minutes=2))  # the updates come later than the messages

    pressed = client.post(
        action.group(1),
        data={"by": "佐藤", "csrf_token": csrf_from(page)},
        follow_redirects=False,
    )

    assert pressed.status_code == 303
    seen = _memo(session, memo.id)
    assert seen.status == MemoStatus.acknowledged
    assert seen.acknowledged_by == "佐藤"
    assert seen.acknowledged_via == "slack"

    await dispatcher.run_once()
    after = client.get("/dev/outbox").text
    update = _card(after, "slack", index=0)
    original = _card(after, "slack", index=1)
    assert 'data-event="memo.acknowledged"' in update
    assert '<p class="seen">確認済み 佐藤 09:02</p>' in update
    assert "dev-action" not in update  # nothing left to answer
    assert "ack-button" not in update
    assert 'data-event="memo.created"' in original
    assert "dev-action" not in original  # the memo is acknowledged: nothing left to answer
    # Chatwork's message is edited too; pressing the original again changes nothing.
    assert '<p class="seen">確認済み 佐藤 09:02</p>' in _card(after, "chatwork", index=0)
    again = client.post(
        action.group(1), data={"by": "鈴木", "csrf_token": csrf_from(after)}, follow_redirects=False
    )
    assert again.status_code == 303
    assert _memo(session, memo.id).acknowledged_by == "佐藤"


async def test_replying_the_code_acknowledges_as_chatwork_by_the_dev_outbox(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    admin: User,
    operator: User,
) -> None:
    make_chat_company(session, "chatwork", "line", "teams")
    memo = take_memo(session, operator)
    await _dispatcher(engine, settings).run_once()
    sign_in(client, admin)
    page = client.get("/dev/outbox").text
    chatwork = _card(page, "chatwork")
    line = _card(page, "line")
    assert "dev-action" in line  # LINE's button is a postback
    assert "dev-action" not in _card(page, "teams")  # a Teams Workflow takes no answer
    action = re.search(r'action="(/dev/outbox/[^"]+/acknowledge)"', chatwork)
    assert action is not None

    replied = client.post(
        action.group(1), data={"csrf_token": csrf_from(page)}, follow_redirects=False
    )

    assert replied.status_code == 303
    seen = _memo(session, memo.id)
    assert (seen.acknowledged_by, seen.acknowledged_via) == ("dev outbox", "chatwork")


async def test_the_platform_request_is_shown_when_the_platform_gives_one(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    operator: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def preview(message: OutgoingMessage) -> dict[str, Any]:
        assert message.chat is not None
        return {"channel": message.to, "text": message.chat.card.title, "token": "<none>"}

    monkeypatch.setitem(CHAT_PREVIEWS, Channel.slack, preview)
    monkeypatch.delitem(CHAT_PREVIEWS, Channel.webhook, raising=False)
    make_chat_company(session, "slack", "webhook")
    take_memo(session, operator)
    await _dispatcher(engine, settings).run_once()
    sign_in(client, operator)

    page = client.get("/dev/outbox", headers={"Accept-Language": "en"}).text
    listing = client.get("/dev/outbox.json?channel=slack").json()["items"]

    slack = _card(page, "slack")
    assert "<summary>Request to the platform</summary>" in slack
    assert "&#34;channel&#34;: &#34;C0123ABCD&#34;" in slack
    assert "&lt;none&gt;" in slack  # the request is escaped, never markup
    assert "<summary>" not in _card(page, "webhook")
    [item] = listing
    assert item["chat"]["destination"] == "ops"
    assert item["chat"]["action"] == "press"
    assert '"channel": "C0123ABCD"' in item["chat"]["request"]


async def test_the_action_is_refused_when_the_channel_goes_to_its_platform(
    settings: Settings,
    engine: Engine,
    session: Session,
    clock: ManualClock,
    operator: User,
) -> None:
    make_chat_company(session, "slack")
    memo = take_memo(session, operator)
    await _dispatcher(engine, settings).run_once()  # kept while Slack went to the outbox
    [row] = outbox.latest_messages(session=session, channel=Channel.slack)
    session.commit()
    # Now Slack is live; SMS and email still go to the outbox, so the page exists.
    live = settings.model_copy(update={"chat_delivery": "live"})
    with TestClient(create_app(settings=live, engine=engine)) as http:
        sign_in(http, operator)
        page = http.get("/dev/outbox").text
        pressed = http.post(
            f"/dev/outbox/{row.id}/acknowledge",
            data={"csrf_token": csrf_from(page)},
            follow_redirects=False,
        )

    assert "確認しました" in _card(page, "slack")  # still shown as it was sent
    assert "dev-action" not in _card(page, "slack")
    assert pressed.status_code == 404
    assert _memo(session, memo.id).status != MemoStatus.acknowledged


def test_the_action_needs_staff_and_the_csrf_token(
    client: TestClient, session: Session, clock: ManualClock, operator: User, client_user: User
) -> None:
    store(session, delivery_id="5" * 32, text="x")
    [sms] = outbox.latest_messages(session=session)
    session.commit()
    signed_out = client.post(f"/dev/outbox/{sms.id}/acknowledge", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login?next=%2Fdev%2Foutbox"
    sign_in(client, client_user)
    token = csrf_from(client.get("/").text)
    refused = client.post(f"/dev/outbox/{sms.id}/acknowledge", data={"csrf_token": token})
    assert refused.status_code == 403
    sign_in(client, operator)
    no_token = client.post(f"/dev/outbox/{sms.id}/acknowledge", data={})
    assert no_token.status_code == 403
    token = csrf_from(client.get("/dev/outbox").text)
    for missing in ("0" * 32, sms.id):  # no such message; an SMS has nothing to press
        answer = client.post(f"/dev/outbox/{missing}/acknowledge", data={"csrf_token": token})
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"


async def test_a_recap_card_names_its_destination_and_offers_nothing_to_press(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    operator: User,
) -> None:
    company = make_chat_company(
        session, "slack", recap={"at": "18:00"}, destinations=[destination("slack", recap=True)]
    )
    clock.set(clock.now() + timedelta(hours=9))  # 18:00 in Tokyo
    assert send_recap(
        session=session, company_id=company.id, day=clock.now().date(), settings=settings
    )
    session.commit()
    await _dispatcher(engine, settings).run_once()
    sign_in(client, operator)

    [item] = client.get("/dev/outbox.json?channel=slack").json()["items"]
    assert item["chat"]["event"] == "recap.daily"
    assert item["chat"]["destination"] == "ops"
    assert item["chat"]["action"] is None
