"""LINE through the Messaging API: a memo's card pushed as a Flex Message with a postback button.

The bureau's LINE Official Account pushes to a user, group or room. Every push carries an
`X-Line-Retry-Key` made from its delivery's id, so LINE accepts each delivery at most once:
sending it again after a timeout or a 5xx cannot show the memo twice (LINE answers 409).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import httpx
from linebot.v3.messaging import (
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexComponent,
    FlexMessage,
    FlexSeparator,
    FlexText,
    PostbackAction,
    PushMessageRequest,
    URIAction,
)

from service import clock
from service.channels import Channel
from service.messages.chat import ChatCard
from service.providers.base import LookupResult, Outcome, OutgoingMessage, Secrets, SendResult
from service.providers.twilio.rest import retry_after_seconds
from service.settings import Settings

log = logging.getLogger(__name__)

PUSH_PATH = "/v2/bot/message/push"
DEFAULT_TIMEOUT = httpx.Timeout(10.0)
# Retry keys are UUIDs named from the delivery id in a namespace of Relay's own, so the same
# delivery always carries the same key and no two deliveries share one.
RETRY_KEY_NAMESPACE = uuid.UUID("5d0c3c53-8f5e-4d55-9f0b-6a0c2f1c7a1e")
# LINE honours a retry key for 24 hours after the first request that carried it.
RETRY_KEY_LIFETIME = timedelta(hours=24)
# How long after its latest attempt a delivery may still be pushed again under its key. The
# first attempt is earlier than the latest by as long as the retries took (8 attempts, at
# most 10 minutes apart, and an hour of look-ups): well inside the 4 hours kept spare.
RESEND_WINDOW = RETRY_KEY_LIFETIME - timedelta(hours=4)
# LINE's limits: a Flex Message's alternative text, and an action's label.
ALT_TEXT_MAX = 1500
LABEL_MAX = 40
URGENT_COLOR = "#D32F2F"
MUTED_COLOR = "#666666"


def retry_key(delivery_id: str) -> str:
    """The `X-Line-Retry-Key` of every push of one delivery."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, delivery_id))


def _text(text: str, **style: Any) -> FlexText:
    return FlexText(text=text, wrap=True, **style)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flex_bubble(card: ChatCard) -> FlexBubble:
    """The card as a Flex bubble: title, facts, memo text and code; its two buttons below."""
    title_style: dict[str, Any] = {"weight": "bold", "size": "md"}
    if card.urgent:
        title_style["color"] = URGENT_COLOR
    # An empty text is refused by LINE: a fact without a value shows a dash.
    body: list[FlexComponent] = [
        FlexBox(
            layout="baseline",
            spacing="sm",
            contents=[
                _text(label or "-", size="sm", color=MUTED_COLOR, flex=2),
                _text(value or "-", size="sm", flex=5),
            ],
        )
        for label, value in card.facts
    ]
    if card.summary:
        body += [FlexSeparator(margin="md"), _text(card.summary, size="sm", margin="md")]
    footer: list[FlexComponent]
    if card.acknowledged:
        footer = [_text(card.acknowledged, size="sm", color=MUTED_COLOR)]
    else:
        body.append(_text(f"{card.code_label}: {card.code}", size="sm", weight="bold"))
        footer = [
            FlexButton(
                style="primary",
                action=PostbackAction(
                    label=_cut(card.ack_label, LABEL_MAX),
                    data=card.ack_value,
                    display_text=card.ack_label,
                ),
            ),
            FlexButton(
                style="link",
                action=URIAction(label=_cut(card.link_label, LABEL_MAX), uri=card.ack_url),
            ),
        ]
    return FlexBubble(
        header=FlexBox(layout="vertical", contents=[_text(card.title, **title_style)]),
        body=FlexBox(layout="vertical", spacing="sm", contents=body),
        footer=FlexBox(layout="vertical", spacing="sm", contents=footer),
    )


def line_request(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON body that pushes `message`'s card (no credentials: they go in a header)."""
    if message.chat is None:
        raise ValueError("a LINE message needs its chat card")
    card = message.chat.card
    request = PushMessageRequest(
        to=message.to,
        messages=[FlexMessage(alt_text=_cut(card.title, ALT_TEXT_MAX), contents=flex_bubble(card))],
    )
    body: dict[str, Any] = request.to_dict()
    return body


def line_preview(message: OutgoingMessage) -> dict[str, Any]:
    """The request LINE would be sent for `message`, for the dev outbox and previews."""
    return line_request(message)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _sent_message_id(data: dict[str, Any]) -> str | None:
    sent = data.get("sentMessages")
    if isinstance(sent, list) and sent and isinstance(sent[0], dict):
        found = sent[0].get("id")
        if isinstance(found, str | int) and str(found):
            return str(found)
    return None


def _error_detail(response: httpx.Response) -> str:
    """A person-readable reason from LINE's error answer: its message and each detail."""
    data = _json(response)
    detail = f"LINE refused the push: HTTP {response.status_code}"
    words = data.get("message")
    if isinstance(words, str) and words:
        detail += f" ({words})"
    details = data.get("details")
    if isinstance(details, list):
        parts = [
            f"{item.get('property', '')}: {item.get('message', '')}".strip(": ")
            for item in details
            if isinstance(item, dict)
        ]
        if parts:
            detail += " " + "; ".join(parts)
    return detail


def _network_detail(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _nothing_sent(error: httpx.HTTPError) -> bool:
    # No connection was made (or none was free): the request cannot have reached LINE.
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def push_outcome(response: httpx.Response) -> SendResult:
    """What LINE's answer to a push means for the delivery."""
    status = response.status_code
    if 200 <= status < 300:
        return SendResult.sent(_sent_message_id(_json(response)))
    if status == 409:
        # A push with this retry key was accepted before: the memo is there already.
        return SendResult.sent(_sent_message_id(_json(response)))
    detail = _error_detail(response)
    if status == 429:
        # Too many requests, or this month's messages used up for now: later may pass.
        return SendResult(
            Outcome.retryable,
            error=detail,
            error_code="429",
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if 400 <= status < 500:
        # A bad request, a refused token, a user who blocked the account: the same fails again.
        return SendResult(Outcome.permanent, error=detail, error_code=str(status))
    # A 5xx may come after LINE accepted the push; the retry key makes sending again safe.
    return SendResult(Outcome.unknown, error=detail, error_code=str(status))


class LineProvider:
    """Pushes each card once to a LINE user, group or room as the destination's channel."""

    channel = Channel.line

    def __init__(
        self, *, api_base: str, secrets: Secrets, http_client: httpx.AsyncClient | None = None
    ) -> None:
        self.api_base = api_base.rstrip("/")
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
    ) -> LineProvider:
        """The provider reaching the configured Messaging API."""
        return cls(api_base=settings.line_api_base, secrets=secrets, http_client=http_client)

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Push `message`'s card once; never raises for LINE or network errors."""
        result = await self._send(message)
        log.info(
            "line delivery=%s outcome=%s code=%s",
            message.delivery_id,
            result.outcome,
            result.error_code,
        )
        return result

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Whether a push whose outcome was unknown may simply be pushed again.

        LINE keeps no list of pushed messages to search. It needs none: a push again with the
        same retry key is accepted only if the first never was, and answered 409 otherwise.
        So "absent" is sound, and the push is repeated, while the key still holds; after
        that a second push could show the memo twice, so it is unclear and never repeated.
        """
        attempted = message.attempted_at
        if attempted is not None and clock.now() - attempted < RESEND_WINDOW:
            return LookupResult.absent()
        return LookupResult.unclear(
            "LINE cannot list pushed messages, and the retry key that would make pushing "
            "again safe has run out; it is not pushed again"
        )

    async def aclose(self) -> None:
        """Close the HTTP client if the provider made it."""
        if self._owns_client:
            await self._client.aclose()

    async def _send(self, message: OutgoingMessage) -> SendResult:
        chat = message.chat
        if chat is None:
            return SendResult(Outcome.permanent, error="a LINE message needs its chat card")
        name = chat.options.get("secret")
        if not name:
            return SendResult(
                Outcome.permanent, error="the destination names no channel access token"
            )
        token = (await self.secrets.get(str(name)) or "").strip()
        if not token:
            return SendResult(Outcome.permanent, error=f"secret '{name}' is not set")
        try:
            response = await self._client.post(
                self.api_base + PUSH_PATH,
                json=line_request(message),
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Line-Retry-Key": retry_key(message.delivery_id),
                },
            )
        except httpx.HTTPError as error:
            detail = _network_detail(error)
            if _nothing_sent(error):
                return SendResult(Outcome.retryable, error=f"could not reach LINE ({detail})")
            # The push may have reached LINE; the retry key makes sending it again safe.
            return SendResult(Outcome.unknown, error=f"no answer from LINE ({detail})")
        return push_outcome(response)
