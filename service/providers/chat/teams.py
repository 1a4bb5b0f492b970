"""Microsoft Teams: a memo as an Adaptive Card, posted to a channel by a Workflows webhook.

The workflow's URL carries its own key, so it is the destination's secret; it is never
logged or kept in an error. A workflow cannot edit or list what it posted.
"""

from __future__ import annotations

from typing import Any

import httpx

from service.channels import Channel
from service.messages.chat import ChatCard
from service.providers.base import LookupResult, Outcome, OutgoingMessage, SendResult
from service.providers.chat.common import (
    ChatProvider,
    chat_of,
    is_postable,
    network_outcome,
    permanent,
    retry_after_of,
)

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
# The run a workflow started for the request, when Power Automate names it.
RUN_ID_HEADER = "x-ms-workflow-run-id"


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def adaptive_card(card: ChatCard) -> dict[str, Any]:
    """The card as an Adaptive Card: title, facts, memo text, code, and the link to acknowledge."""
    title = {"weight": "Bolder", "size": "Medium"}
    if card.urgent:
        title["color"] = "Attention"
    body: list[dict[str, Any]] = [_text(card.title, **title)]
    if card.facts:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": value} for label, value in card.facts],
            }
        )
    if card.summary:
        body.append(_text(card.summary, spacing="Medium"))
    if card.acknowledged:
        # A card posted after the memo was seen says so, and only opens the memo.
        body.append(_text(card.acknowledged, weight="Bolder", color="Good"))
        action = {"type": "Action.OpenUrl", "title": card.link_label, "url": card.ack_url}
    else:
        body.append(_text(f"{card.code_label}: {card.code}", isSubtle=True))
        action = {"type": "Action.OpenUrl", "title": card.ack_label, "url": card.ack_url}
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": [action],
        "msteams": {"width": "Full"},
    }


def request_body(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON a Workflows webhook takes: a message with the card as its one attachment."""
    chat = message.chat
    assert chat is not None, "a Teams message is made from a chat card"
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": CARD_CONTENT_TYPE,
                "contentUrl": None,
                "content": adaptive_card(chat.card),
            }
        ],
    }


def _secret_name(message: OutgoingMessage) -> str:
    name = (message.chat.options if message.chat else {}).get("secret")
    return str(name or message.to.removeprefix("secret:"))


def teams_preview(message: OutgoingMessage) -> dict[str, Any]:
    """The request `message` would make: the JSON body, and which secret holds the URL."""
    return {"url_secret": _secret_name(message), "body": request_body(message)}


def answer_outcome(response: httpx.Response) -> SendResult:
    """What the workflow's answer means for the send."""
    status = response.status_code
    if 200 <= status < 300:
        # Workflows answer 202 Accepted: the run that posts the card has started.
        return SendResult.sent(response.headers.get(RUN_ID_HEADER) or None)
    if status == 429:
        return SendResult(
            Outcome.retryable,
            error="Teams asks to slow down (HTTP 429)",
            error_code="429",
            retry_after=retry_after_of(response),
        )
    if status >= 500:
        # The workflow may have started before failing; it cannot be asked.
        return SendResult(
            Outcome.unknown, error=f"the workflow answered HTTP {status}", error_code=str(status)
        )
    # 400 a card it cannot read, 401/403 a key no longer valid, 404 a workflow turned off or
    # deleted: the very same request cannot succeed later.
    return SendResult(
        Outcome.permanent,
        error=f"the workflow refused the card (HTTP {status}); check its URL in /admin/secrets",
        error_code=str(status),
    )


class TeamsProvider(ChatProvider):
    """Posts each memo card to the destination's Workflows webhook."""

    channel = Channel.teams
    peer = "the workflow"
    timeout = DEFAULT_TIMEOUT

    async def _url(self, message: OutgoingMessage) -> str:
        """The workflow's URL; the attempt ends for good when it is unset or not https."""
        name = _secret_name(message)
        url = await self.secret(name, where="set the workflow's URL in /admin/secrets")
        if not is_postable(url.strip()):
            raise permanent(
                f"secret '{name}' is not an https:// workflow URL", error_code="url_refused"
            )
        return url.strip()

    async def attempt(self, message: OutgoingMessage) -> SendResult:
        """Post the memo's card once."""
        chat_of(message, missing="a Teams delivery without its card")
        url = await self._url(message)
        response = await self.request("POST", url, json=request_body(message))
        return answer_outcome(response)

    def network_failure(self, error: httpx.HTTPError) -> SendResult:
        """What a network failure while posting means; the URL, which holds a key, is left out."""
        return network_outcome(error, peer=self.peer, detail=type(error).__name__)

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """A workflow cannot be asked what it posted: the message is failed, never sent twice."""
        return LookupResult.unclear("a Teams workflow cannot say whether it posted a card")
