"""One email that is not a memo (an invitation, a password reset), sent as relayed email is."""

from __future__ import annotations

from sqlalchemy import Engine

from service.channels import Channel
from service.providers.base import OutgoingMessage, Provider, SendResult
from service.providers.outbox import OutboxProvider
from service.providers.registry import Backend, channel_backends
from service.providers.smtp import SmtpEmailProvider
from service.settings import Settings


def email_provider(*, settings: Settings, engine: Engine) -> Provider:
    """The provider relayed email goes through: SMTP when configured, else the dev outbox."""
    if channel_backends(settings=settings)[Channel.email] == Backend.smtp:
        return SmtpEmailProvider.from_settings(settings=settings)
    return OutboxProvider(channel=Channel.email, engine=engine)


async def send_email(
    *,
    settings: Settings,
    engine: Engine,
    reference: str,
    to: str,
    subject: str,
    text: str,
    locale: str,
) -> SendResult:
    """Try once to send a plain-text email; `reference` names it in the dev outbox and logs.

    Call it outside any open database transaction: the dev outbox writes in its own.
    """
    provider = email_provider(settings=settings, engine=engine)
    message = OutgoingMessage(
        delivery_id=reference[:32],
        channel=Channel.email,
        to=to,
        subject=subject,
        text=text,
        locale=locale,
    )
    try:
        return await provider.send(message)
    finally:
        aclose = getattr(provider, "aclose", None)
        if aclose is not None:
            await aclose()
