"""Signed webhooks: a memo's events as JSON, signed as Standard Webhooks sign them.

Each delivery keeps one `webhook-id` on every attempt, so a receiver drops a copy it already
has; an attempt whose outcome is unknown is therefore sent again rather than looked up.
"""

from __future__ import annotations

import binascii
import json
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
    SendResult,
)
from service.providers.chat.common import (
    ChatProvider,
    chat_of,
    is_postable,
    option,
    permanent,
    retry_after_of,
)

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "Relay-Webhooks/1"
# Where a memo.failed event's payload keeps the delivery that failed, beside the memo's data;
# the event carries it as `data.failed`.
FAILED_KEY = "failed_delivery"
# Answers that say the receiver did not take it in yet, and will later.
_TRY_AGAIN = frozenset({408, 425, 429})


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
    if chat.event == ChatEvent.recap:
        data = {"recap": memo, "destination": chat.options.get("key")}
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
            retry_after=retry_after_of(response),
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


class WebhookProvider(ChatProvider):
    """Posts each event to the destination's URL, signed with the destination's key."""

    channel = Channel.webhook
    peer = "the receiver"
    timeout = DEFAULT_TIMEOUT

    async def _signer(self, message: OutgoingMessage) -> Webhook:
        """The destination's signing key; the attempt ends for good when it is unset or bad."""
        name = option(message, "secret")
        value = await self.secret(name, where="set the endpoint's key in /admin/secrets")
        try:
            return Webhook(value)
        except (binascii.Error, ValueError, EmptyWebhookSecretError, RuntimeError) as error:
            raise permanent(
                f"secret '{name}' is not a Standard Webhooks key (whsec_ and base64)",
                error_code="secret_invalid",
            ) from error

    async def attempt(self, message: OutgoingMessage) -> SendResult:
        """Post the event once, signed."""
        chat_of(message, missing="a webhook delivery without its event")
        if not is_postable(message.to):
            raise permanent(
                "the destination's url is not https:// (plain http only to this machine)",
                error_code="url_refused",
            )
        signer = await self._signer(message)
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
        response = await self.request(
            "POST", message.to, content=body.encode("utf-8"), headers=headers
        )
        return answer_outcome(response, message_id=message_id)

    def log_label(self, message: OutgoingMessage) -> str:
        """The platform and the event's type."""
        return f"webhook {message.chat.event.value}" if message.chat else "webhook"

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """An endpoint cannot be asked what it received: the event is sent again instead."""
        return LookupResult.unclear("a webhook endpoint cannot say what it received")
