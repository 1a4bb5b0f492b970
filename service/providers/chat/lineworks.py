"""LINE WORKS through its Bot API 2.0: a memo's card as a Flexible Template with a postback button.

A company's bot posts as its Developer Console app: a service-account JWT (RS256, the app's
private key) is exchanged for an access token, kept until shortly before it expires.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from service import clock
from service.channels import Channel
from service.messages.chat import ChatCard
from service.providers.base import (
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
    clip,
    json_object,
    network_detail,
    option,
    permanent,
    retry_after_of,
    status_outcome,
)
from service.settings import Settings

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "bot"
# The assertion only has to outlive its own exchange; LINE WORKS accepts at most 60 minutes.
ASSERTION_LIFETIME = timedelta(minutes=30)
# A token is renewed this long before LINE WORKS would refuse it, so no send races its end.
TOKEN_MARGIN = timedelta(minutes=5)
# When LINE WORKS does not say how long a token lasts.
DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)
# LINE WORKS' limits on a Flexible Template's alternative text and a button's label.
ALT_TEXT_MAX = 400
LABEL_MAX = 20
URGENT_COLOR = "#D32F2F"
MUTED_COLOR = "#666666"


@dataclass(frozen=True)
class _Credentials:
    """What one destination authenticates with; `fingerprint` changes when a secret rotates."""

    client_id: str
    service_account: str
    private_key: str
    client_secret: str

    @property
    def cache_key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(f"{self.private_key}\0{self.client_secret}".encode()).hexdigest()
        return (self.client_id, self.service_account, digest)


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: datetime


def message_path(*, bot_id: str, address: str) -> str:
    """The API path that posts to `address` ("channel:<id>" or "user:<id>") as bot `bot_id`."""
    kind, _, target = address.partition(":")
    if not target or kind not in ("channel", "user"):
        raise ValueError(f"not a LINE WORKS address: {address!r}")
    collection = "channels" if kind == "channel" else "users"
    return f"/bots/{quote(bot_id, safe='')}/{collection}/{quote(target, safe='@')}/messages"


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, "wrap": True, **style}


def flex_content(card: ChatCard) -> dict[str, Any]:
    """The card as a LINE WORKS Flexible Template: facts, memo text, code, and its buttons."""
    title_style: dict[str, Any] = {"weight": "bold", "size": "md"}
    if card.urgent:
        title_style["color"] = URGENT_COLOR
    facts = [
        {
            "type": "box",
            "layout": "baseline",
            "spacing": "sm",
            "contents": [
                _text(label, size="sm", color=MUTED_COLOR, flex=2),
                _text(value or "-", size="sm", flex=5),
            ],
        }
        for label, value in card.facts
    ]
    body: list[dict[str, Any]] = [*facts]
    if card.summary:
        body += [{"type": "separator", "margin": "md"}, _text(card.summary, size="sm")]
    footer: list[dict[str, Any]]
    if card.acknowledged:
        footer = [_text(card.acknowledged, size="sm", color=MUTED_COLOR)]
    else:
        body.append(_text(f"{card.code_label}: {card.code}", size="sm", weight="bold"))
        footer = [
            {
                "type": "button",
                "style": "primary",
                "action": {
                    "type": "postback",
                    "label": clip(card.ack_label, LABEL_MAX),
                    "data": card.ack_value,
                    "displayText": card.ack_label,
                },
            },
            {
                "type": "button",
                "style": "link",
                "action": {
                    "type": "uri",
                    "label": clip(card.link_label, LABEL_MAX),
                    "uri": card.ack_url,
                },
            },
        ]
    alt_text = "\n".join([card.title, card.acknowledged or f"{card.code_label}: {card.code}"])
    return {
        "type": "flex",
        "altText": clip(alt_text, ALT_TEXT_MAX),
        "contents": {
            "type": "bubble",
            "header": {
                "type": "box",
                "layout": "vertical",
                "contents": [_text(card.title, **title_style)],
            },
            "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
            "footer": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": footer},
        },
    }


def lineworks_request(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON body that posts `message`'s card (no credentials: they go in a header)."""
    if message.chat is None:
        raise ValueError("a LINE WORKS message needs its chat card")
    return {"content": flex_content(message.chat.card)}


def lineworks_preview(message: OutgoingMessage) -> dict[str, Any]:
    """The request LINE WORKS would be sent for `message`, for the dev outbox and previews."""
    return lineworks_request(message)


def _error_detail(response: httpx.Response, *, what: str) -> tuple[str, str]:
    """A person-readable reason and a code from a LINE WORKS error answer."""
    data = json_object(response)
    code = data.get("code") or data.get("error")
    words = data.get("description") or data.get("error_description") or data.get("message")
    code_text = str(code) if code else str(response.status_code)
    detail = f"LINE WORKS refused the {what}: HTTP {response.status_code}"
    if code:
        detail += f" {code}"
    if isinstance(words, str) and words:
        detail += f" ({words})"
    return detail, code_text


def _lifetime(value: object) -> timedelta:
    # LINE WORKS writes `expires_in` as a string of seconds ("86400").
    try:
        seconds = float(str(value))
    except ValueError:
        return DEFAULT_TOKEN_LIFETIME
    if not math.isfinite(seconds) or seconds <= 0:
        return DEFAULT_TOKEN_LIFETIME
    return timedelta(seconds=seconds)


class LineWorksProvider(ApiChatProvider):
    """Posts each card once to a LINE WORKS channel or user as the destination's bot."""

    channel = Channel.lineworks
    peer = "LINE WORKS"

    def __init__(
        self,
        *,
        api_base: str,
        auth_url: str,
        secrets: Secrets,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(api_base=api_base, secrets=secrets, http_client=http_client)
        self.auth_url = auth_url
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    @classmethod
    def configured(cls, settings: Settings) -> dict[str, Any]:
        """LINE WORKS is reached at the configured API and token endpoint."""
        return {"api_base": settings.lineworks_api_base, "auth_url": settings.lineworks_auth_url}

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """LINE WORKS cannot say whether a message was posted: never guess, never post twice."""
        return LookupResult.unclear(
            "LINE WORKS bots cannot list the messages they posted, so whether this one "
            "arrived cannot be checked; it is not posted again"
        )

    async def attempt(self, message: OutgoingMessage) -> SendResult:
        """Post `message`'s card once as the destination's bot, with a token kept or new."""
        chat_of(message, missing="a LINE WORKS message needs its chat card")
        bot_id = option(message, "bot_id")
        if not bot_id:
            raise permanent("the destination names no bot_id")
        try:
            path = message_path(bot_id=bot_id, address=message.to)
        except ValueError as error:
            raise permanent(str(error)) from error
        credentials = await self._credentials(message)
        token, fresh = await self._token(credentials)
        response = await self.request(
            "POST",
            self.api_base + path,
            json=lineworks_request(message),
            headers={"Authorization": f"Bearer {token}"},
        )
        return self._outcome(response, credentials=credentials, fresh=fresh)

    def _outcome(
        self, response: httpx.Response, *, credentials: _Credentials, fresh: bool
    ) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            # LINE WORKS answers without an id for the message: one of ours names it.
            return SendResult.sent(f"local-{uuid.uuid4().hex}")
        detail, code = _error_detail(response, what="message")
        if status == 401:
            self._tokens.pop(credentials.cache_key, None)
            if not fresh:
                # A kept token was revoked or expired early: the next attempt gets a new one.
                return SendResult(Outcome.retryable, error=detail, error_code=code)
            return SendResult(Outcome.permanent, error=detail, error_code=code)
        # A bad request, a bot not in the channel, an unknown user: the same will fail again.
        return status_outcome(response, error=detail, error_code=code)

    async def _secret(self, message: OutgoingMessage, field: str) -> str:
        return await self.secret(
            option(message, field), unnamed=f"the destination names no {field}"
        )

    async def _credentials(self, message: OutgoingMessage) -> _Credentials:
        client_id = option(message, "client_id")
        service_account = option(message, "service_account")
        if not client_id or not service_account:
            raise permanent("the destination names no client_id or service_account")
        return _Credentials(
            client_id=client_id,
            service_account=service_account,
            private_key=await self._secret(message, "secret"),
            client_secret=await self._secret(message, "client_secret"),
        )

    async def _token(self, credentials: _Credentials) -> tuple[str, bool]:
        """A valid access token, and whether it was just issued."""
        now = clock.now()
        kept = self._tokens.get(credentials.cache_key)
        if kept is not None and now < kept.renew_at:
            return kept.value, False
        form = {
            "assertion": self._assertion(credentials, now=now),
            "grant_type": GRANT_TYPE,
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "scope": SCOPE,
        }
        try:
            response = await self._client.post(self.auth_url, data=form)
        except httpx.HTTPError as error:
            # Nothing is posted before a token is had: trying again cannot post twice.
            raise AttemptEnded(
                SendResult(
                    Outcome.retryable,
                    error=f"could not get a LINE WORKS token ({network_detail(error)})",
                )
            ) from error
        data = json_object(response)
        value = data.get("access_token")
        if response.status_code == 200 and isinstance(value, str) and value:
            lifetime = _lifetime(data.get("expires_in"))
            margin = min(TOKEN_MARGIN, lifetime / 2)
            self._tokens[credentials.cache_key] = _Token(value, now + lifetime - margin)
            return value, True
        detail, code = _error_detail(response, what="token request")
        if response.status_code == 429:
            raise AttemptEnded(
                SendResult(
                    Outcome.retryable,
                    error=detail,
                    error_code=code,
                    retry_after=retry_after_of(response),
                )
            )
        if 400 <= response.status_code < 500:
            # Wrong client id or secret, an unknown service account, a key that does not match.
            raise permanent(detail, error_code=code)
        raise AttemptEnded(SendResult(Outcome.retryable, error=detail, error_code=code))

    def _assertion(self, credentials: _Credentials, *, now: datetime) -> str:
        claims = {
            "iss": credentials.client_id,
            "sub": credentials.service_account,
            "iat": int(now.timestamp()),
            "exp": int((now + ASSERTION_LIFETIME).timestamp()),
        }
        try:
            return jwt.encode(claims, credentials.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise permanent(
                "the service account's private key is not an RSA key in PEM "
                f"({type(error).__name__})"
            ) from error
