"""LINE WORKS through its Bot API 2.0: a memo's card as a Flexible Template with a postback button.

A company's bot posts as its Developer Console app: a service-account JWT (RS256, the app's
private key) is exchanged for an access token, kept until shortly before it expires.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
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
from service.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0)
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


class _NotSent(Exception):
    """An attempt ended before the message could be posted; `result` says why."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.error)
        self.result = result


def message_path(*, bot_id: str, address: str) -> str:
    """The API path that posts to `address` ("channel:<id>" or "user:<id>") as bot `bot_id`."""
    kind, _, target = address.partition(":")
    if not target or kind not in ("channel", "user"):
        raise ValueError(f"not a LINE WORKS address: {address!r}")
    collection = "channels" if kind == "channel" else "users"
    return f"/bots/{quote(bot_id, safe='')}/{collection}/{quote(target, safe='@')}/messages"


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, "wrap": True, **style}


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


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
                    "label": _label(card.ack_label),
                    "data": card.ack_value,
                    "displayText": card.ack_label,
                },
            },
            {
                "type": "button",
                "style": "link",
                "action": {"type": "uri", "label": _label(card.link_label), "uri": card.ack_url},
            },
        ]
    alt_text = "\n".join([card.title, card.acknowledged or f"{card.code_label}: {card.code}"])
    if len(alt_text) > ALT_TEXT_MAX:
        alt_text = alt_text[: ALT_TEXT_MAX - 1] + "…"
    return {
        "type": "flex",
        "altText": alt_text,
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


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = (moment - clock.now()).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_detail(response: httpx.Response, *, what: str) -> tuple[str, str]:
    """A person-readable reason and a code from a LINE WORKS error answer."""
    data = _json(response)
    code = data.get("code") or data.get("error")
    words = data.get("description") or data.get("error_description") or data.get("message")
    code_text = str(code) if code else str(response.status_code)
    detail = f"LINE WORKS refused the {what}: HTTP {response.status_code}"
    if code:
        detail += f" {code}"
    if isinstance(words, str) and words:
        detail += f" ({words})"
    return detail, code_text


def _network_detail(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _nothing_sent(error: httpx.HTTPError) -> bool:
    # No connection was made (or none was free): the request cannot have reached LINE WORKS.
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _lifetime(value: object) -> timedelta:
    # LINE WORKS writes `expires_in` as a string of seconds ("86400").
    try:
        seconds = float(str(value))
    except ValueError:
        return DEFAULT_TOKEN_LIFETIME
    if not math.isfinite(seconds) or seconds <= 0:
        return DEFAULT_TOKEN_LIFETIME
    return timedelta(seconds=seconds)


class LineWorksProvider:
    """Posts each card once to a LINE WORKS channel or user as the destination's bot."""

    channel = Channel.lineworks

    def __init__(
        self,
        *,
        api_base: str,
        auth_url: str,
        secrets: Secrets,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.auth_url = auth_url
        self.secrets = secrets
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    @classmethod
    def from_settings(
        cls,
        *,
        settings: Settings,
        secrets: Secrets,
        http_client: httpx.AsyncClient | None = None,
    ) -> LineWorksProvider:
        """The provider reaching the configured API and token endpoint."""
        return cls(
            api_base=settings.lineworks_api_base,
            auth_url=settings.lineworks_auth_url,
            secrets=secrets,
            http_client=http_client,
        )

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Post `message`'s card once; never raises for LINE WORKS or network errors."""
        try:
            result = await self._send(message)
        except _NotSent as stop:
            result = stop.result
        log.info(
            "lineworks delivery=%s outcome=%s code=%s",
            message.delivery_id,
            result.outcome,
            result.error_code,
        )
        return result

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """LINE WORKS cannot say whether a message was posted: never guess, never post twice."""
        return LookupResult.unclear(
            "LINE WORKS bots cannot list the messages they posted, so whether this one "
            "arrived cannot be checked; it is not posted again"
        )

    async def aclose(self) -> None:
        """Close the HTTP client if the provider made it."""
        if self._owns_client:
            await self._client.aclose()

    async def _send(self, message: OutgoingMessage) -> SendResult:
        chat = message.chat
        if chat is None:
            return SendResult(Outcome.permanent, error="a LINE WORKS message needs its chat card")
        options = chat.options
        bot_id = str(options.get("bot_id") or "")
        if not bot_id:
            return SendResult(Outcome.permanent, error="the destination names no bot_id")
        try:
            path = message_path(bot_id=bot_id, address=message.to)
        except ValueError as error:
            return SendResult(Outcome.permanent, error=str(error))
        credentials = await self._credentials(options)
        token, fresh = await self._token(credentials)
        try:
            response = await self._client.post(
                self.api_base + path,
                json=lineworks_request(message),
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            detail = _network_detail(error)
            if _nothing_sent(error):
                return SendResult(Outcome.retryable, error=f"could not reach LINE WORKS ({detail})")
            # The request may have reached LINE WORKS: only a look-up could tell.
            return SendResult(Outcome.unknown, error=f"no answer from LINE WORKS ({detail})")
        return self._outcome(response, credentials=credentials, fresh=fresh)

    def _outcome(
        self, response: httpx.Response, *, credentials: _Credentials, fresh: bool
    ) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            # LINE WORKS answers without an id for the message: one of ours names it.
            return SendResult.sent(f"local-{uuid.uuid4().hex}")
        detail, code = _error_detail(response, what="message")
        if status == 429:
            return SendResult(
                Outcome.retryable,
                error=detail,
                error_code=code,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        if status == 401:
            self._tokens.pop(credentials.cache_key, None)
            if not fresh:
                # A kept token was revoked or expired early: the next attempt gets a new one.
                return SendResult(Outcome.retryable, error=detail, error_code=code)
            return SendResult(Outcome.permanent, error=detail, error_code=code)
        if 400 <= status < 500:
            # A bad request, a bot not in the channel, an unknown user: the same will fail again.
            return SendResult(Outcome.permanent, error=detail, error_code=code)
        # A 5xx may come after LINE WORKS posted the message.
        return SendResult(Outcome.unknown, error=detail, error_code=code)

    async def _secret(self, options: dict[str, Any], field: str) -> str:
        name = options.get(field)
        if not name:
            raise _NotSent(SendResult(Outcome.permanent, error=f"the destination names no {field}"))
        value = await self.secrets.get(str(name))
        if not value:
            raise _NotSent(SendResult(Outcome.permanent, error=f"secret '{name}' is not set"))
        return value

    async def _credentials(self, options: dict[str, Any]) -> _Credentials:
        client_id = str(options.get("client_id") or "")
        service_account = str(options.get("service_account") or "")
        if not client_id or not service_account:
            raise _NotSent(
                SendResult(
                    Outcome.permanent,
                    error="the destination names no client_id or service_account",
                )
            )
        return _Credentials(
            client_id=client_id,
            service_account=service_account,
            private_key=await self._secret(options, "secret"),
            client_secret=await self._secret(options, "client_secret"),
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
            raise _NotSent(
                SendResult(
                    Outcome.retryable,
                    error=f"could not get a LINE WORKS token ({_network_detail(error)})",
                )
            ) from error
        data = _json(response)
        value = data.get("access_token")
        if response.status_code == 200 and isinstance(value, str) and value:
            lifetime = _lifetime(data.get("expires_in"))
            margin = min(TOKEN_MARGIN, lifetime / 2)
            self._tokens[credentials.cache_key] = _Token(value, now + lifetime - margin)
            return value, True
        detail, code = _error_detail(response, what="token request")
        if response.status_code == 429:
            raise _NotSent(
                SendResult(
                    Outcome.retryable,
                    error=detail,
                    error_code=code,
                    retry_after=retry_after_seconds(response.headers.get("retry-after")),
                )
            )
        if 400 <= response.status_code < 500:
            # Wrong client id or secret, an unknown service account, a key that does not match.
            raise _NotSent(SendResult(Outcome.permanent, error=detail, error_code=code))
        raise _NotSent(SendResult(Outcome.retryable, error=detail, error_code=code))

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
            raise _NotSent(
                SendResult(
                    Outcome.permanent,
                    error="the service account's private key is not an RSA key in PEM "
                    f"({type(error).__name__})",
                )
            ) from error
