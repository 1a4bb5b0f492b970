"""LINE through the Messaging API: a memo's card pushed as a Flex Message with a postback button.

The bureau's LINE Official Account pushes to a user, group or room. Every push carries an
`X-Line-Retry-Key` made from its delivery's id, so LINE accepts each delivery at most once:
sending it again after a timeout or a 5xx cannot show the memo twice (LINE answers 409).
"""

from __future__ import annotations

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
from service.providers.base import LookupResult, OutgoingMessage, SendResult
from service.providers.chat.common import (
    ApiChatProvider,
    chat_of,
    clip,
    json_object,
    option,
    permanent,
    status_outcome,
)
from service.settings import Settings

PUSH_PATH = "/v2/bot/message/push"
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
                    label=clip(card.ack_label, LABEL_MAX),
                    data=card.ack_value,
                    display_text=card.ack_label,
                ),
            ),
            FlexButton(
                style="link",
                action=URIAction(label=clip(card.link_label, LABEL_MAX), uri=card.ack_url),
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
        messages=[FlexMessage(alt_text=clip(card.title, ALT_TEXT_MAX), contents=flex_bubble(card))],
    )
    body: dict[str, Any] = request.to_dict()
    return body


def line_preview(message: OutgoingMessage) -> dict[str, Any]:
    """The request LINE would be sent for `message`, for the dev outbox and previews."""
    return line_request(message)


def _sent_message_id(data: dict[str, Any]) -> str | None:
    sent = data.get("sentMessages")
    if isinstance(sent, list) and sent and isinstance(sent[0], dict):
        found = sent[0].get("id")
        if isinstance(found, str | int) and str(found):
            return str(found)
    return None


def _error_detail(response: httpx.Response) -> str:
    """A person-readable reason from LINE's error answer: its message and each detail."""
    data = json_object(response)
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


def push_outcome(response: httpx.Response) -> SendResult:
    """What LINE's answer to a push means for the delivery."""
    status = response.status_code
    if 200 <= status < 300:
        return SendResult.sent(_sent_message_id(json_object(response)))
    if status == 409:
        # A push with this retry key was accepted before: the memo is there already.
        return SendResult.sent(_sent_message_id(json_object(response)))
    # A 429 is too many requests, or this month's messages used up for now: later may pass.
    # A 5xx may come after LINE accepted the push; the retry key makes sending again safe.
    return status_outcome(response, error=_error_detail(response))


class LineProvider(ApiChatProvider):
    """Pushes each card once to a LINE user, group or room as the destination's channel."""

    channel = Channel.line
    peer = "LINE"

    @classmethod
    def configured(cls, settings: Settings) -> dict[str, Any]:
        """LINE's Messaging API is reached at RELAY_LINE_API_BASE."""
        return {"api_base": settings.line_api_base}

    async def attempt(self, message: OutgoingMessage) -> SendResult:
        """Push `message`'s card once, under its delivery's retry key."""
        chat_of(message, missing="a LINE message needs its chat card")
        name = option(message, "secret")
        secret = await self.secret(name, unnamed="the destination names no channel access token")
        token = secret.strip()
        if not token:
            raise permanent(f"secret '{name}' is not set")
        # A push that may have reached LINE before the network failed is sent again later
        # under the same retry key, which makes that safe.
        response = await self.request(
            "POST",
            self.api_base + PUSH_PATH,
            json=line_request(message),
            headers={
                "Authorization": f"Bearer {token}",
                "X-Line-Retry-Key": retry_key(message.delivery_id),
            },
        )
        return push_outcome(response)

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
