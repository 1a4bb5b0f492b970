"""Which provider serves each channel, chosen from the settings."""

from __future__ import annotations

import logging
from enum import StrEnum

import httpx
from sqlalchemy import Engine

from service.channels import CHAT_CHANNELS, Channel
from service.providers.base import Provider, Secrets
from service.providers.chat import CHAT_PROVIDERS
from service.providers.outbox import OutboxProvider
from service.providers.smtp import SmtpEmailProvider
from service.providers.twilio.sms import TwilioSmsProvider
from service.providers.twilio.voice import TwilioVoiceProvider
from service.secrets.service import SecretReader
from service.settings import Settings

log = logging.getLogger(__name__)


class Backend(StrEnum):
    twilio = "twilio"
    smtp = "smtp"
    outbox = "outbox"
    platform = "platform"  # a chat platform's own API


def _sms_backend(settings: Settings) -> Backend:
    has_sender = bool(settings.twilio_sms_from or settings.twilio_messaging_service_sid)
    return Backend.twilio if settings.twilio_enabled and has_sender else Backend.outbox


def _email_backend(settings: Settings) -> Backend:
    return Backend.smtp if settings.smtp_enabled else Backend.outbox


def _voice_backend(settings: Settings) -> Backend:
    # A call needs a number to call from; a Messaging Service SID is no caller ID.
    has_caller_id = bool(settings.twilio_sms_from)
    return Backend.twilio if settings.twilio_enabled and has_caller_id else Backend.outbox


def channel_backends(*, settings: Settings) -> dict[Channel, Backend]:
    """The backend each channel uses under `settings`."""
    chat = Backend.platform if settings.chat_live else Backend.outbox
    return {
        Channel.sms: _sms_backend(settings),
        Channel.email: _email_backend(settings),
        Channel.voice: _voice_backend(settings),
        **dict.fromkeys(sorted(CHAT_CHANNELS), chat),
    }


def outbox_channels(*, settings: Settings) -> frozenset[Channel]:
    """The channels whose messages go to the dev outbox instead of out."""
    backends = channel_backends(settings=settings)
    return frozenset(channel for channel, backend in backends.items() if backend == Backend.outbox)


def _real_provider(
    channel: Channel,
    backend: Backend,
    settings: Settings,
    http_client: httpx.AsyncClient | None,
    secrets: Secrets,
) -> Provider:
    if backend == Backend.platform:
        return CHAT_PROVIDERS[channel](settings=settings, secrets=secrets, http_client=http_client)
    if channel == Channel.sms and backend == Backend.twilio:
        return TwilioSmsProvider.from_settings(settings=settings, http_client=http_client)
    if channel == Channel.voice and backend == Backend.twilio:
        return TwilioVoiceProvider.from_settings(settings=settings, http_client=http_client)
    if channel == Channel.email and backend == Backend.smtp:
        return SmtpEmailProvider.from_settings(settings=settings)
    raise ValueError(f"no {backend} provider for the {channel} channel")


def build_providers(
    *,
    settings: Settings,
    engine: Engine,
    secrets: Secrets | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> dict[Channel, Provider]:
    """One provider per channel; `http_client` (if given) is shared and stays the caller's.

    Chat providers read their credentials from `secrets` at each send, so a rotated one
    is used from the next message on (by default, the secret store in `engine`).
    """
    secrets = secrets if secrets is not None else SecretReader(engine, settings)
    if settings.twilio_enabled and _sms_backend(settings) == Backend.outbox:
        log.warning(
            "Twilio is configured but no SMS sender is: set RELAY_TWILIO_SMS_FROM or "
            "RELAY_TWILIO_MESSAGING_SERVICE_SID; SMS goes to the dev outbox"
        )
    if settings.twilio_enabled and _voice_backend(settings) == Backend.outbox:
        log.warning(
            "Twilio is configured but no caller ID is: set RELAY_TWILIO_SMS_FROM (a Twilio "
            "number) to place voice call-outs; voice goes to the dev outbox"
        )
    providers: dict[Channel, Provider] = {}
    for channel, backend in channel_backends(settings=settings).items():
        if backend == Backend.outbox:
            providers[channel] = OutboxProvider(channel=channel, engine=engine)
        else:
            providers[channel] = _real_provider(channel, backend, settings, http_client, secrets)
        log.info("channel %s goes to %s", channel, backend)
    return providers


async def close_providers(providers: dict[Channel, Provider]) -> None:
    """Release what the providers hold (their own HTTP clients)."""
    seen: set[int] = set()
    for provider in providers.values():
        if id(provider) in seen:
            continue
        seen.add(id(provider))
        aclose = getattr(provider, "aclose", None)
        if aclose is not None:
            await aclose()
