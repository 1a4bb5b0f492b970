"""/dev/outbox: what would have been sent, for operators and admins, while the outbox is used."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.providers import outbox, registry
from service.settings import Settings
from service.web.outbox_pages import linkify
from tests.factories import make_outgoing_message
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
    """An app with Twilio (a Messaging Service, so no caller ID for voice) and SMTP configured."""
    real = settings.model_copy(
        update={
            "twilio_account_sid": "AC" + "0" * 32,
            "twilio_auth_token": "token",
            "twilio_messaging_service_sid": "MG" + "0" * 32,
            "smtp_host": "mail.example.jp",
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
