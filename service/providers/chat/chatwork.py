"""Chatwork: a memo posted to a room as an `[info]` block; a reply carrying its code acknowledges.

Chatwork has no buttons, so the message carries the memo's code and link. Relay posts with the
API token of the account the company named (`secret:`), `X-ChatWorkToken`, form-encoded.
Chatwork allows about 300 requests per 5 minutes per token: its `x-ratelimit-*` headers are
remembered per token, and while a token has nothing left Relay waits for the reset instead of
asking.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from service import clock
from service.channels import Channel
from service.i18n import N_, translate
from service.messages.chat import ChatCard
from service.providers.base import (
    Found,
    LookupResult,
    Outcome,
    OutgoingMessage,
    Secrets,
    SendResult,
)
from service.providers.chat.common import (
    ApiChatProvider,
    AttemptEnded,
    chat_of,
    json_object,
    network_detail,
    option,
    retry_after_of,
    status_outcome,
)
from service.settings import Settings

# What `GET /rooms/{id}/messages?force=1` lists at most: the room's newest messages.
LIST_LIMIT = 100
# Chatwork's clock and ours may disagree a little about when the message was posted.
CLOCK_SKEW = timedelta(minutes=1)
# How many hex digits of the delivery id mark a message as that delivery's (and Relay's own).
MARKER_DIGITS = 16
MARKER = re.compile(rf"#relay-[0-9a-f]{{{MARKER_DIGITS}}}")
# Chatwork has no buttons: the message says how to acknowledge from the room.
REPLY_HINT = N_("Reply in this room with the code to acknowledge.")


def marker_of(delivery_id: str) -> str:
    """The tag that lets a look-up find one delivery's message among a room's messages."""
    return f"#relay-{delivery_id[:MARKER_DIGITS]}"


def _segment(value: str) -> str:
    """An id as one segment of a path, whatever it holds."""
    return quote(value, safe="")


def _plain(text: str) -> str:
    """Text from a memo with Chatwork's tag brackets made harmless (no `[toall]`, no `[/info]`)."""
    return text.replace("[", "［").replace("]", "］")


def message_body(*, card: ChatCard, delivery_id: str) -> str:
    """The message as Chatwork is sent it: mentions, an `[info]` block and the marker."""
    lines: list[str] = []
    if card.mentions:
        lines.append("".join(f"[To:{account}]" for account in card.mentions))
    facts = "\n".join(f"{_plain(label)}: {_plain(value)}" for label, value in card.facts)
    parts = [f"[info][title]{_plain(card.title)}[/title]{facts}"]
    if card.summary:
        parts.append(f"[hr]{_plain(card.summary)}")
    if card.acknowledged:
        ending = _plain(card.acknowledged)
    else:
        hint = translate(card.locale, REPLY_HINT)
        ending = f"{_plain(card.code_label)}: {card.code}\n{hint}"
    ending += f"\n{_plain(card.link_label)}: {card.ack_url}"
    parts.append(f"[hr]{ending}[/info]")
    lines.append("".join(parts))
    lines.append(marker_of(delivery_id))
    return "\n".join(lines)


@dataclass(frozen=True)
class ChatworkRequest:
    """One call to Chatwork's API, without its token."""

    method: str
    path: str
    form: dict[str, str]


def chatwork_request(message: OutgoingMessage) -> ChatworkRequest:
    """The request that posts `message` to its room, or edits the message it replaces."""
    assert message.chat is not None, "a Chatwork message is made from its chat card"
    body = message_body(card=message.chat.card, delivery_id=message.delivery_id)
    room = _segment(message.to)
    if message.chat.replaces:
        edited = _segment(message.chat.replaces)
        return ChatworkRequest("PUT", f"/rooms/{room}/messages/{edited}", {"body": body})
    return ChatworkRequest("POST", f"/rooms/{room}/messages", {"body": body, "self_unread": "0"})


def chatwork_preview(message: OutgoingMessage) -> dict[str, Any]:
    """The request Chatwork would be sent for `message`, for the dev outbox and the preview."""
    request = chatwork_request(message)
    return {"method": request.method, "path": request.path, "form": request.form}


@dataclass
class _Allowance:
    """What Chatwork last said of a token's requests: how many are left until when."""

    remaining: int
    reset_at: float  # seconds since the epoch


def _header_number(headers: httpx.Headers, name: str) -> float | None:
    try:
        number = float(headers.get(name, ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _auth(token: str) -> dict[str, str]:
    """The header that carries a request's API token."""
    return {"X-ChatWorkToken": token}


def _errors(response: httpx.Response) -> str:
    """Chatwork's own words for a refusal (`{"errors": [...]}`), else the HTTP status."""
    found = json_object(response).get("errors")
    if isinstance(found, list) and found:
        return "Chatwork: " + "; ".join(str(item) for item in found)[:300]
    return f"Chatwork answered HTTP {response.status_code}"


class ChatworkProvider(ApiChatProvider):
    """Posts each memo to a Chatwork room, edits it once acknowledged, finds it by its marker."""

    channel = Channel.chatwork
    peer = "Chatwork"

    def __init__(
        self,
        *,
        secrets: Secrets,
        api_base: str = "https://api.chatwork.com/v2",
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(api_base=api_base, secrets=secrets, http_client=http_client)
        # Per token (by its digest): the allowance Chatwork's latest answer reported.
        self._allowances: dict[str, _Allowance] = {}

    @classmethod
    def configured(cls, settings: Settings) -> dict[str, Any]:
        """Chatwork is reached at RELAY_CHATWORK_API_BASE, with each destination's own token."""
        return {"api_base": settings.chatwork_api_base}

    async def _token(self, message: OutgoingMessage) -> str:
        """The destination's API token; the attempt ends for good without one."""
        return await self.secret(
            option(message, "secret"),
            unnamed="the Chatwork destination names no API token (`secret:`)",
        )

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()[:16]

    def _wait_for(self, token: str) -> float | None:
        """Seconds until the token may ask again, when its allowance is used up."""
        allowance = self._allowances.get(self._key(token))
        if allowance is None or allowance.remaining > 0:
            return None
        wait = allowance.reset_at - clock.now().timestamp()
        return wait if wait > 0 else None

    def _note(self, token: str, response: httpx.Response) -> None:
        remaining = _header_number(response.headers, "x-ratelimit-remaining")
        reset_at = _header_number(response.headers, "x-ratelimit-reset")
        if remaining is not None and reset_at is not None:
            self._allowances[self._key(token)] = _Allowance(int(remaining), reset_at)

    def _retry_after(self, response: httpx.Response) -> float | None:
        said = retry_after_of(response)
        if said is not None:
            return said
        reset_at = _header_number(response.headers, "x-ratelimit-reset")
        if reset_at is None:
            return None
        return max(0.0, reset_at - clock.now().timestamp())

    async def attempt(self, message: OutgoingMessage) -> SendResult:
        """Post (or edit) the message once, unless the token's allowance is used up."""
        chat = chat_of(message, missing="a Chatwork message needs its chat card")
        token = await self._token(message)
        wait = self._wait_for(token)
        if wait is not None:
            return SendResult(
                Outcome.retryable,
                error="Chatwork's request allowance for this token is used up until its reset",
                error_code="429",
                retry_after=wait,
            )
        request = chatwork_request(message)
        response = await self.request(
            request.method,
            self.api_base + request.path,
            headers=_auth(token),
            data=request.form,
        )
        self._note(token, response)
        return self._outcome(response, replaces=chat.replaces)

    def log_label(self, message: OutgoingMessage) -> str:
        """The platform and the HTTP method: POST posts a message, PUT edits one."""
        return f"chatwork {chatwork_request(message).method}" if message.chat else "chatwork"

    def _outcome(self, response: httpx.Response, *, replaces: str | None) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            found = json_object(response).get("message_id")
            if isinstance(found, str | int) and str(found):
                return SendResult.sent(str(found))
            if replaces:
                return SendResult.sent(replaces)  # the edited message keeps its id
            # Taken, but with no id to edit it by later: the look-up finds it by its marker.
            return SendResult(
                Outcome.unknown, error=f"Chatwork answered HTTP {status} without a message_id"
            )
        # A token refused (401), no right to post in the room (403), no such room or message
        # (404), a body Chatwork will not take (400): the same request fails again. A 5xx may
        # come after Chatwork posted the message.
        return status_outcome(
            response, error=_errors(response), retry_after=self._retry_after(response)
        )

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Find the message by its marker: among the room's newest messages, or (an edit)
        in the message it edits. Never raises for Chatwork or network errors."""
        if message.chat is None:
            return LookupResult.unclear("a Chatwork message needs its chat card")
        try:
            token = await self._token(message)
        except AttemptEnded as ended:
            return LookupResult.unreachable(ended.result.error or "no API token")
        wait = self._wait_for(token)
        if wait is not None:
            return LookupResult.unreachable(
                f"Chatwork's request allowance for this token is used up for {wait:.0f} s"
            )
        replaces = message.chat.replaces
        room = _segment(message.to)
        if replaces:
            path, params = f"/rooms/{room}/messages/{_segment(replaces)}", {}
        else:
            path, params = f"/rooms/{room}/messages", {"force": "1"}
        try:
            response = await self._client.get(
                self.api_base + path, headers=_auth(token), params=params
            )
        except httpx.HTTPError as error:
            return LookupResult.unreachable(f"could not reach Chatwork ({network_detail(error)})")
        self._note(token, response)
        if replaces and response.status_code == 404:
            return LookupResult.absent()  # the edit is sent again, and Chatwork says why not
        if response.status_code == 204:
            return LookupResult.absent()  # a room with no messages at all
        if response.status_code != 200:
            return LookupResult.unreachable(_errors(response))
        try:
            data = response.json()
        except ValueError:
            return LookupResult.unreachable("Chatwork answered without JSON")
        items = [data] if replaces else data
        if not isinstance(items, list):
            return LookupResult.unreachable("Chatwork answered without a list of messages")
        messages = [item for item in items if isinstance(item, dict)]
        marker = marker_of(message.delivery_id)
        for item in messages:
            if marker in str(item.get("body", "")):
                return LookupResult(
                    Found.found, provider_id=str(item.get("message_id") or replaces), status="sent"
                )
        if not replaces and self._list_too_short(messages, message):
            return LookupResult.unclear(
                f"room {message.to} has more than {LIST_LIMIT} messages since the attempt"
            )
        return LookupResult.absent()

    @staticmethod
    def _list_too_short(messages: list[dict[str, Any]], message: OutgoingMessage) -> bool:
        """Whether the room's list is full and all newer than the attempt, so it could be
        older than the list reaches."""
        if len(messages) < LIST_LIMIT:
            return False
        if message.attempted_at is None:
            return True
        since = (message.attempted_at - CLOCK_SKEW).timestamp()
        times = [item.get("send_time") for item in messages]
        return all(isinstance(time, int | float) and time >= since for time in times)
