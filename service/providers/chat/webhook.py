"""Signed webhooks: a memo's events as JSON, signed as Standard Webhooks sign them.

Each delivery keeps one `webhook-id` on every attempt, so a receiver drops a copy it already
has; an attempt whose outcome is unknown is therefore sent again rather than looked up.
"""

from __future__ import annotations

import binascii
import ipaddress
import json
import logging
from datetime import datetime
from math import floor
from typing import Any

import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from service import clock
from service.channels import Channel
from service.providers.base import (
    ChatEvent,
    LookupResult,
    Outcome,
    OutgoingMessage,
    Secrets,
    SendResult,
)
from service.providers.twilio.rest import retry_after_seconds
from service.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "Relay-Webhooks/1"
# Where a memo.failed event's payload keeps the delivery that failed, beside the memo's data;
# the event carries it as `data.failed`.
FAILED_KEY = "failed_delivery"
# Answers that say the receiver did not take it in yet, and will later.
_TRY_AGAIN = frozenset({408, 425, 429})


def is_postable(url: str) -> bool:
    """Whether Relay may post to `url`: https anywhere, plain http only on this machine."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    if not parsed.host:
        return False
    if parsed.scheme == "https":
        return True
    if parsed.scheme != "http":
        return False
    if parsed.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.host).is_loopback
    except ValueError:
        return False


def webhook_id(message: OutgoingMessage) -> str:
    """The event's `webhook-id`: its delivery's, the same on every attempt."""
    return f"msg_{message.delivery_id}"


def _moment(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def event_body(message: OutgoingMessage, *, at: datetime) -> dict[str, Any]:
    """The event as JSON: its type, when it was sent, the memo and the destination it is for."""
    chat = message.chat
    assert chat is not None, "a webhook event is made from a chat payload"
    memo = dict(chat.memo)
    failed = memo.pop(FAILED_KEY, None)
    data: dict[str, Any] = {"memo": memo, "destination": chat.options.get("key")}
    if failed is not None and chat.event == ChatEvent.failed:
        data["failed"] = failed
    return {"type": chat.event.value, "timestamp": _moment(at), "data": data}


def _body_text(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def webhook_preview(message: OutgoingMessage) -> dict[str, Any]:
    """The request an event would be sent as: URL, headers and body, without its signature."""
    now = clock.now()
    return {
        "url": message.to,
        "headers": {
            "content-type": "application/json",
            "webhook-id": webhook_id(message),
            "webhook-timestamp": str(floor(now.timestamp())),
        },
        "body": event_body(message, at=now),
    }


def _network_detail(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def answer_outcome(response: httpx.Response, *, message_id: str) -> SendResult:
    """What the receiver's answer means for the send."""
    status = response.status_code
    if 200 <= status < 300:
        return SendResult.sent(message_id)
    if status in _TRY_AGAIN:
        return SendResult(
            Outcome.retryable,
            error=f"the receiver asks to try again later (HTTP {status})",
            error_code=str(status),
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if status >= 500:
        # It may have taken the event before failing: sent again under the same webhook-id.
        return SendResult(
            Outcome.unknown, error=f"the receiver answered HTTP {status}", error_code=str(status)
        )
    if status == 410:
        return SendResult(
            Outcome.permanent,
            error="the receiver says this endpoint is gone (HTTP 410): change the url",
            error_code="410",
        )
    if 300 <= status < 400:
        return SendResult(
            Outcome.permanent,
            error=f"the receiver redirects (HTTP {status}); give its final address as the url",
            error_code=str(status),
        )
    # 400, 401, 403, 404, 413, ...: the very same request cannot be taken later.
    return SendResult(
        Outcome.permanent,
        error=f"the receiver refused the event (HTTP {status})",
        error_code=str(status),
    )


def _network_outcome(error: httpx.HTTPError) -> SendResult:
    """What a network failure while posting means for the send."""
    detail = _network_detail(error)
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # No connection was made (or none was free): nothing went out.
        return SendResult(Outcome.retryable, error=f"could not reach the receiver ({detail})")
    # The event may have arrived (read/write timeout, connection dropped).
    return SendResult(Outcome.unknown, error=f"no answer from the receiver ({detail})")


class WebhookProvider:
    """Posts each event to the destination's URL, signed with the destination's key."""

    channel = Channel.webhook

    def __init__(self, *, secrets: Secrets, http_client: httpx.AsyncClient | None = None) -> None:
        self.secrets = secrets
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)

    @classmethod
    def from_settings(
        cls,
        *,
        settings: Settings,
        secrets: Secrets,
        http_client: httpx.AsyncClient | None = None,
    ) -> WebhookProvider:
        """The provider that signs with each destination's stored key."""
        return cls(secrets=secrets, http_client=http_client)

    async def _signer(self, message: OutgoingMessage) -> Webhook | SendResult:
        """The destination's signing key, or the permanent failure of its being unset or bad."""
        name = str((message.chat.options if message.chat else {}).get("secret") or "")
        value = await self.secrets.get(name) if name else None
        if not value:
            return SendResult(
                Outcome.permanent,
                error=f"secret '{name}' is not set: set the endpoint's key in /admin/secrets",
                error_code="secret_not_set",
            )
        try:
            return Webhook(value)
        except (binascii.Error, ValueError, EmptyWebhookSecretError, RuntimeError):
            return SendResult(
                Outcome.permanent,
                error=f"secret '{name}' is not a Standard Webhooks key (whsec_ and base64)",
                error_code="secret_invalid",
            )

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Post the event once, signed; never raises for the receiver's or network errors."""
        if message.chat is None:
            return SendResult(Outcome.permanent, error="a webhook delivery without its event")
        if not is_postable(message.to):
            return SendResult(
                Outcome.permanent,
                error="the destination's url is not https:// (plain http only to this machine)",
                error_code="url_refused",
            )
        signer = await self._signer(message)
        if isinstance(signer, SendResult):
            return signer
        message_id = webhook_id(message)
        now = clock.now()
        body = _body_text(event_body(message, at=now))
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(floor(now.timestamp())),
            "webhook-signature": signer.sign(msg_id=message_id, timestamp=now, data=body),
        }
        try:
            response = await self._client.post(
                message.to, content=body.encode("utf-8"), headers=headers
            )
        except httpx.HTTPError as error:
            result = _network_outcome(error)
        else:
            result = answer_outcome(response, message_id=message_id)
        log.info(
            "webhook %s delivery=%s outcome=%s code=%s",
            message.chat.event.value,
            message.delivery_id,
            result.outcome,
            result.error_code,
        )
        return result

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """An endpoint cannot be asked what it received: the event is sent again instead."""
        return LookupResult.unclear("a webhook endpoint cannot say what it received")

    async def aclose(self) -> None:
        """Close the HTTP client if the provider made it."""
        if self._owns_client:
            await self._client.aclose()
