"""Choosing each channel's provider from the settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine

from service.channels import CHAT_CHANNELS, Channel
from service.providers.outbox import OutboxProvider
from service.providers.registry import (
    build_providers,
    channel_backends,
    close_providers,
    outbox_channels,
)
from service.providers.smtp import SmtpEmailProvider
from service.providers.twilio.sms import TwilioSmsProvider
from service.providers.twilio.voice import TwilioVoiceProvider
from service.settings import Settings

TWILIO = {
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": "auth-token",
    "twilio_api_base": "https://api.twilio.test",
}


@pytest.fixture
def unused_engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


def make_settings(monkeypatch: pytest.MonkeyPatch, **values: Any) -> Settings:
    for name in list(os.environ):
        if name.startswith("RELAY_") and name != "RELAY_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    return Settings(database_url="sqlite://", _env_file=None, **values)


def test_without_credentials_every_channel_goes_to_the_dev_outbox(
    monkeypatch: pytest.MonkeyPatch, unused_engine: Engine
) -> None:
    settings = make_settings(monkeypatch)

    providers = build_providers(settings=settings, engine=unused_engine)

    assert set(providers) == set(Channel)
    for channel, provider in providers.items():
        assert isinstance(provider, OutboxProvider)
        assert provider.channel == channel
        assert provider.engine is unused_engine
    assert outbox_channels(settings=settings) == set(Channel)


def test_twilio_with_a_sender_takes_sms(
    monkeypatch: pytest.MonkeyPatch, unused_engine: Engine
) -> None:
    settings = make_settings(
        monkeypatch,
        **TWILIO,
        twilio_sms_from="+815011112222",
        public_base_url="http://127.0.0.1:9000",
    )

    providers = build_providers(settings=settings, engine=unused_engine)

    sms = providers[Channel.sms]
    assert isinstance(sms, TwilioSmsProvider)
    assert sms.channel == Channel.sms
    assert sms.sms_from == "+815011112222"
    assert sms.rest.account_url == (
        "https://api.twilio.test/2010-04-01/Accounts/" + TWILIO["twilio_account_sid"]
    )
    assert sms.default_status_callback == "http://127.0.0.1:9000/twilio/sms/status"
    assert isinstance(providers[Channel.email], OutboxProvider)
    voice = providers[Channel.voice]
    assert isinstance(voice, TwilioVoiceProvider)
    assert voice.caller_id == "+815011112222"
    assert voice.public_base_url == "http://127.0.0.1:9000"
    assert voice.rest.account_url == sms.rest.account_url


def test_a_messaging_service_is_a_sender_too(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(monkeypatch, **TWILIO, twilio_messaging_service_sid="MG" + "1" * 32)

    assert channel_backends(settings=settings)[Channel.sms] == "twilio"


def test_twilio_without_a_sender_leaves_sms_in_the_outbox(
    monkeypatch: pytest.MonkeyPatch, unused_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(monkeypatch, **TWILIO)

    providers = build_providers(settings=settings, engine=unused_engine)

    assert isinstance(providers[Channel.sms], OutboxProvider)
    assert "RELAY_TWILIO_SMS_FROM" in caplog.text


def test_smtp_host_takes_email(monkeypatch: pytest.MonkeyPatch, unused_engine: Engine) -> None:
    settings = make_settings(
        monkeypatch,
        smtp_host="mail.example.jp",
        smtp_port=2525,
        smtp_username="relay",
        smtp_password="smtp-secret",
        smtp_tls="tls",
        mail_from="relay@example.jp",
    )

    providers = build_providers(settings=settings, engine=unused_engine)

    email = providers[Channel.email]
    assert isinstance(email, SmtpEmailProvider)
    assert (email.host, email.port, email.tls) == ("mail.example.jp", 2525, "tls")
    assert (email.username, email.password) == ("relay", "smtp-secret")
    assert email.mail_from == "relay@example.jp"
    assert isinstance(providers[Channel.sms], OutboxProvider)


def test_everything_configured_leaves_nothing_in_the_outbox(
    monkeypatch: pytest.MonkeyPatch, unused_engine: Engine
) -> None:
    settings = make_settings(
        monkeypatch,
        **TWILIO,
        twilio_sms_from="+815011112222",
        smtp_host="mail.example.jp",
        chat_delivery="live",
    )

    assert channel_backends(settings=settings) == {
        Channel.sms: "twilio",
        Channel.email: "smtp",
        Channel.voice: "twilio",
        **dict.fromkeys(CHAT_CHANNELS, "platform"),
    }
    assert outbox_channels(settings=settings) == set()
    providers = build_providers(settings=settings, engine=unused_engine)
    for channel in CHAT_CHANNELS:
        assert not isinstance(providers[channel], OutboxProvider)
        assert providers[channel].channel == channel


def test_chat_goes_out_once_links_do_and_stays_in_the_outbox_on_a_local_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    public = make_settings(
        monkeypatch, public_base_url="https://relay.example.jp", secret_key="k" * 32
    )
    local = make_settings(monkeypatch)

    assert outbox_channels(settings=public).isdisjoint(CHAT_CHANNELS)
    assert outbox_channels(settings=local) >= CHAT_CHANNELS


def test_a_messaging_service_alone_is_no_caller_id_so_voice_stays_in_the_outbox(
    monkeypatch: pytest.MonkeyPatch, unused_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(monkeypatch, **TWILIO, twilio_messaging_service_sid="MG" + "1" * 32)

    providers = build_providers(settings=settings, engine=unused_engine)

    assert isinstance(providers[Channel.sms], TwilioSmsProvider)
    assert isinstance(providers[Channel.voice], OutboxProvider)
    assert "caller ID" in caplog.text and "voice goes to the dev outbox" in caplog.text


async def test_close_providers_closes_what_they_own_and_leaves_a_shared_client_open(
    monkeypatch: pytest.MonkeyPatch, unused_engine: Engine
) -> None:
    settings = make_settings(monkeypatch, **TWILIO, twilio_sms_from="+815011112222")
    owned = build_providers(settings=settings, engine=unused_engine)
    owned_sms = owned[Channel.sms]
    assert isinstance(owned_sms, TwilioSmsProvider)

    await close_providers(owned)

    with pytest.raises(RuntimeError):
        await owned_sms.rest.get("/Messages.json", {})
    async with httpx.AsyncClient() as shared:
        providers = build_providers(settings=settings, engine=unused_engine, http_client=shared)
        await close_providers(providers)
        assert not shared.is_closed
