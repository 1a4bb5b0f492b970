"""Voice call-outs through Twilio's Calls resource: Relay phones a contact and reads the memo."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx

from service.channels import Channel
from service.providers.base import LookupResult, OutgoingMessage, SendResult
from service.providers.twilio.rest import (
    TwilioRest,
    found_item,
    twilio_date,
)
from service.providers.twilio.statuses import MISSED_AS_MESSAGE
from service.settings import Settings

log = logging.getLogger(__name__)

CALLS_PATH = "/Calls.json"
ANSWER_PATH = "/twilio/voice/callout"
STATUS_CALLBACK_PATH = "/twilio/voice/callout/status"
# Long enough for a phone in a pocket; short enough to give up before most voicemail answers.
RING_TIMEOUT_SECONDS = 25
LOOKUP_PAGE_SIZE = 20
LOOKUP_MAX_PAGES = 5
# Twilio's clock and ours may disagree a little about when the call was created.
CLOCK_SKEW = timedelta(minutes=1)


class TwilioVoiceProvider:
    """Places each call-out as one `POST Calls.json`; Twilio fetches the TwiML when answered."""

    channel = Channel.voice

    def __init__(self, *, rest: TwilioRest, caller_id: str, public_base_url: str) -> None:
        if not caller_id:
            raise ValueError("a caller ID (a Twilio number) is needed to place calls")
        self.rest = rest
        self.caller_id = caller_id
        self.public_base_url = public_base_url.rstrip("/")

    @classmethod
    def from_settings(
        cls, *, settings: Settings, http_client: httpx.AsyncClient | None = None
    ) -> TwilioVoiceProvider:
        """The provider of the configured account; the SMS number is the caller ID."""
        if not settings.twilio_sms_from:
            raise ValueError("RELAY_TWILIO_SMS_FROM is needed as the caller ID of call-outs")
        return cls(
            rest=TwilioRest.from_settings(settings=settings, http_client=http_client),
            caller_id=settings.twilio_sms_from,
            public_base_url=settings.public_base_url,
        )

    def form(self, message: OutgoingMessage) -> dict[str, str]:
        """The form fields of the create-call request for `message`."""
        delivery = f"?d={message.delivery_id}"
        return {
            "To": message.to,
            "From": self.caller_id,
            "Url": f"{self.public_base_url}{ANSWER_PATH}{delivery}",
            "Method": "POST",
            "StatusCallback": message.status_callback
            or f"{self.public_base_url}{STATUS_CALLBACK_PATH}{delivery}",
            "StatusCallbackMethod": "POST",
            # Only the end of the call matters (answered, busy, no-answer, ...); an array
            # field, sent as one form value per event.
            "StatusCallbackEvent": "completed",
            "Timeout": str(RING_TIMEOUT_SECONDS),
        }

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Ask Twilio once to place the call; never raises for Twilio or network errors."""
        return await self.rest.create(
            CALLS_PATH, self.form(message), resource="call", delivery_id=message.delivery_id
        )

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Find the call placed by an attempt whose outcome was unknown.

        A call carries nothing of ours that the Calls list shows, so it is told apart by
        time: the one call from our caller ID to the contact created since the attempt
        began (the delivery keeps that moment). Several such calls cannot be told apart,
        and say so: the delivery then fails and the fallback channel takes over; nobody is
        called twice.
        """
        if message.attempted_at is None:
            return LookupResult.unclear("the attempt's time is not known")
        since = message.attempted_at - CLOCK_SKEW
        items = await self.rest.list_for_lookup(
            CALLS_PATH,
            {"To": message.to, "From": self.caller_id},
            key="calls",
            message=message,
            since=since,
            page_size=LOOKUP_PAGE_SIZE,
            max_pages=LOOKUP_MAX_PAGES,
        )
        if isinstance(items, LookupResult):
            return items  # Twilio could not be asked, or lists too much to tell
        candidates = [item for item in items if self._is_candidate(item, message.to, since)]
        if not candidates:
            return LookupResult.absent()
        if len(candidates) > 1:
            log.warning(
                "twilio voice lookup delivery=%s: %d calls could be it",
                message.delivery_id,
                len(candidates),
            )
            return LookupResult.unclear(
                f"{len(candidates)} calls to {message.to} since the attempt could be it"
            )
        [call] = candidates
        return found_item(call, status_words=MISSED_AS_MESSAGE)

    def _is_candidate(self, item: Any, to: str, since: datetime) -> bool:
        if not isinstance(item, dict):
            return False
        if item.get("to") != to or item.get("from") != self.caller_id:
            return False
        if item.get("direction") not in (None, "outbound-api"):
            return False
        created = twilio_date(item.get("date_created"))
        return created is not None and created >= since

    async def aclose(self) -> None:
        """Close the HTTP client if the provider made it."""
        await self.rest.aclose()
