"""SMS through Twilio's Messages resource."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx

from service.channels import Channel
from service.providers.base import LookupResult, OutgoingMessage, SendResult
from service.providers.twilio.rest import (
    TwilioRest,
    found_item,
)
from service.settings import Settings

log = logging.getLogger(__name__)

MESSAGES_PATH = "/Messages.json"
LOOKUP_PAGE_SIZE = 50
LOOKUP_MAX_PAGES = 5
# Twilio's clock and ours may disagree a little about when the message was created.
CLOCK_SKEW = timedelta(minutes=1)
STATUS_CALLBACK_PATH = "/twilio/sms/status"


class TwilioSmsProvider:
    """Sends each SMS as one `POST Messages.json`; looks up unknown outcomes by recipient."""

    channel = Channel.sms

    def __init__(
        self,
        *,
        rest: TwilioRest,
        sms_from: str | None = None,
        messaging_service_sid: str | None = None,
        default_status_callback: str | None = None,
    ) -> None:
        if not sms_from and not messaging_service_sid:
            raise ValueError("an SMS sender is needed: a From number or a Messaging Service SID")
        self.rest = rest
        self.sms_from = sms_from
        self.messaging_service_sid = messaging_service_sid
        self.default_status_callback = default_status_callback

    @classmethod
    def from_settings(
        cls, *, settings: Settings, http_client: httpx.AsyncClient | None = None
    ) -> TwilioSmsProvider:
        """The provider of the configured account and sender."""
        return cls(
            rest=TwilioRest.from_settings(settings=settings, http_client=http_client),
            sms_from=settings.twilio_sms_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            default_status_callback=settings.public_base_url + STATUS_CALLBACK_PATH,
        )

    def form(self, message: OutgoingMessage) -> dict[str, str]:
        """The form fields of the create-message request for `message`."""
        form = {"To": message.to, "Body": message.text}
        # With a Messaging Service, Twilio picks the sender from the service's pool.
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            assert self.sms_from is not None
            form["From"] = self.sms_from
        status_callback = message.status_callback or self.default_status_callback
        if status_callback:
            form["StatusCallback"] = status_callback
        return form

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Ask Twilio once to send `message`; never raises for Twilio or network errors."""
        return await self.rest.create(
            MESSAGES_PATH, self.form(message), resource="message", delivery_id=message.delivery_id
        )

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Find the SMS among the messages Twilio lists for the same number, by its exact body.

        The list is read from the newest down to the attempt's start. Not there: Twilio never
        created it. Two identical bodies to one number cannot be told apart; the newest is
        taken (a body carries its memo's own acknowledgement link).
        """
        since = message.attempted_at - CLOCK_SKEW if message.attempted_at else None

        def is_it(item: dict[str, Any]) -> bool:
            return item.get("to") == message.to and item.get("body") == message.text

        items = await self.rest.list_for_lookup(
            MESSAGES_PATH,
            {"To": message.to},
            key="messages",
            message=message,
            since=since,
            page_size=LOOKUP_PAGE_SIZE,
            max_pages=LOOKUP_MAX_PAGES,
            until=is_it,
        )
        if isinstance(items, LookupResult):
            return items  # Twilio could not be asked, or lists too much to tell
        for item in items:
            if is_it(item):
                return found_item(item)
        return LookupResult.absent()

    async def aclose(self) -> None:
        """Close the HTTP client if the provider made it."""
        await self.rest.aclose()
