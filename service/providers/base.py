"""The one small interface every provider implements: `send(message) -> outcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from service.channels import Channel


class Outcome(StrEnum):
    """What a provider said about one attempt."""

    sent = "sent"  # accepted; delivery may still be confirmed later
    retryable = "retryable"  # not accepted, safe to try again (refused connection, 429, SMTP 4xx)
    permanent = "permanent"  # will never be accepted (bad number, opted out, SMTP 5xx)
    unknown = (
        "unknown"  # may or may not have gone out (timeout, provider 5xx): never re-send blindly
    )


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message for one recipient on one channel."""

    delivery_id: str
    channel: Channel
    to: str
    text: str  # the SMS body, the plain-text email part, or the voice call's spoken summary
    subject: str = ""
    html: str | None = None
    locale: str = "ja"
    # Where the provider reports progress (Twilio StatusCallback); includes the delivery's id.
    status_callback: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # When this attempt began: a look-up searches the provider's records from here.
    attempted_at: datetime | None = None


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    # Seconds the provider asked us to wait (Retry-After), for retryable outcomes.
    retry_after: float | None = None

    @classmethod
    def sent(cls, provider_id: str | None) -> SendResult:
        return cls(Outcome.sent, provider_id=provider_id)


class Found(StrEnum):
    """What a look-up at the provider learnt about a message whose outcome was unknown."""

    found = "found"  # the provider has it; its status says how far it got
    absent = "absent"  # the provider has no such message: it was never sent
    unreachable = "unreachable"  # the provider could not be asked now: ask again later
    unclear = "unclear"  # the provider's records cannot tell (several calls could be it)


@dataclass(frozen=True)
class LookupResult:
    """What the provider knows of a message whose send outcome was unknown."""

    state: Found
    provider_id: str | None = None
    status: str | None = None  # the provider's own status word, e.g. Twilio's "delivered"
    detail: str | None = None  # why it was unreachable or unclear, for a person to read

    @property
    def found(self) -> bool:
        return self.state == Found.found

    @classmethod
    def absent(cls) -> LookupResult:
        return cls(Found.absent)

    @classmethod
    def unreachable(cls, detail: str) -> LookupResult:
        return cls(Found.unreachable, detail=detail)

    @classmethod
    def unclear(cls, detail: str) -> LookupResult:
        return cls(Found.unclear, detail=detail)


class Provider(Protocol):
    """Sends messages on one channel."""

    channel: Channel

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Try once to hand `message` over; never raises for provider or network errors."""
        ...

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Find a message whose outcome was unknown; never raises for provider errors."""
        ...
