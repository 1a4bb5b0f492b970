"""The one small interface every provider implements: `send(message) -> outcome`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from service.channels import Channel
from service.messages.chat import ChatCard


class Outcome(StrEnum):
    """What a provider said about one attempt."""

    sent = "sent"  # accepted; delivery may still be confirmed later
    retryable = "retryable"  # not accepted, safe to try again (refused connection, 429, SMTP 4xx)
    permanent = "permanent"  # will never be accepted (bad number, opted out, SMTP 5xx)
    unknown = (
        "unknown"  # may or may not have gone out (timeout, provider 5xx): never re-send blindly
    )


class ChatEvent(StrEnum):
    """What a chat or webhook message tells its destination (a webhook event's `type`)."""

    created = "memo.created"
    escalated = "memo.escalated"
    acknowledged = "memo.acknowledged"
    failed = "memo.failed"
    # A company's daily recap: `memo` of its payload holds the recap, not a memo.
    recap = "recap.daily"


@dataclass(frozen=True)
class ChatPayload:
    """What a chat platform's message is made of, kept on its delivery."""

    event: ChatEvent
    card: ChatCard
    # The destination's settings besides its address: names of its secrets, mentions, ids.
    options: dict[str, Any]
    # The memo as a webhook event carries it (ids, caller, category, status, times).
    memo: dict[str, Any]
    # For an update: the platform's id of the message it replaces (a Slack ts, a Chatwork id).
    replaces: str | None = None

    def to_json(self) -> str:
        """As a delivery's `payload` column keeps it."""
        return json.dumps(
            {
                "event": self.event.value,
                "card": self.card.to_dict(),
                "options": self.options,
                "memo": self.memo,
                "replaces": self.replaces,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> ChatPayload:
        """Read back what `to_json` kept."""
        data = json.loads(text)
        return cls(
            event=ChatEvent(data["event"]),
            card=ChatCard.from_dict(data["card"]),
            options=data.get("options") or {},
            memo=data.get("memo") or {},
            replaces=data.get("replaces"),
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
    # Chat and webhook deliveries only: the card, the destination's options, the event.
    chat: ChatPayload | None = None


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


class Secrets(Protocol):
    """Reads a stored secret's current value by name; None when it is not set."""

    async def get(self, name: str) -> str | None:
        """The secret's value now (a rotated one is seen at once)."""
        ...


class Provider(Protocol):
    """Sends messages on one channel."""

    channel: Channel

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Try once to hand `message` over; never raises for provider or network errors."""
        ...

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Find a message whose outcome was unknown; never raises for provider errors."""
        ...
