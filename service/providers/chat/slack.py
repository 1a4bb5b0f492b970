"""Slack: a memo as a Block Kit message in a channel, posted and edited by Relay's app."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx

from service.channels import Channel
from service.messages.chat import ChatCard
from service.providers.base import Found, LookupResult, Outcome, OutgoingMessage, SendResult
from service.providers.chat.common import (
    ApiChatProvider,
    AttemptEnded,
    clip,
    json_object,
    network_detail,
    option,
    retry_after_of,
)
from service.settings import Settings

log = logging.getLogger(__name__)

# The button a person presses to acknowledge, and the link button beside it.
ACK_ACTION_ID = "relay_ack"
OPEN_ACTION_ID = "relay_open"
ACTIONS_BLOCK_ID = "relay_memo"
# The message metadata that lets a look-up find a message by its delivery.
METADATA_EVENT = "relay_memo"
# Slack's limits: a header's text, a section's fields and a field's text.
HEADER_MAX = 150
FIELDS_PER_SECTION = 10
FIELD_MAX = 2000
SECTION_MAX = 3000
# A look-up reads this many messages a page, and no more than so many pages.
LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 5
# Slack's clock and ours may disagree a little about when the message was posted.
CLOCK_SKEW = timedelta(minutes=1)

# Errors after which the very same request can never succeed: credentials, the channel,
# the app's membership. Any other `ok: false` is taken as permanent too, except these:
_RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})
# Slack's own trouble: the message may have been posted before it failed.
_SLACK_TROUBLE = frozenset(
    {"internal_error", "fatal_error", "request_timeout", "service_unavailable"}
)


def _escape(text: str) -> str:
    """Text as Slack's mrkdwn shows it literally (its three control characters escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def card_blocks(card: ChatCard) -> list[dict[str, Any]]:
    """The card as Block Kit: title, facts, memo text, code, then the buttons or who saw it."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(card.title, HEADER_MAX), "emoji": True},
        }
    ]
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{_escape(label)}*\n{_escape(value)}", FIELD_MAX)}
        for label, value in card.facts
    ]
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
    if card.summary:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(_escape(card.summary), SECTION_MAX)},
            }
        )
    link = f"<{card.ack_url}|{_escape(card.link_label)}>"
    if card.acknowledged:
        # Once seen, the buttons give way to who saw it and when; the link stays.
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f":white_check_mark: {_escape(card.acknowledged)}"},
                    {"type": "mrkdwn", "text": link},
                ],
            }
        )
        return blocks
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{_escape(card.code_label)}: *{_escape(card.code)}*"}
            ],
        }
    )
    blocks.append(
        {
            "type": "actions",
            "block_id": ACTIONS_BLOCK_ID,
            "elements": [
                {
                    "type": "button",
                    "action_id": ACK_ACTION_ID,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": card.ack_label},
                    "value": card.ack_value,
                },
                {
                    "type": "button",
                    "action_id": OPEN_ACTION_ID,
                    "text": {"type": "plain_text", "text": card.link_label},
                    "url": card.ack_url,
                },
            ],
        }
    )
    return blocks


def message_ref(provider_id: str, default_channel: str) -> tuple[str, str]:
    """The channel and `ts` a delivery's provider id names.

    A message to a user (U…) is posted in the direct-message channel Slack opens (D…), which
    an edit must name: such a provider id is `D…/ts`; one in the channel named is just `ts`.
    """
    channel, slash, ts = provider_id.rpartition("/")
    return (channel, ts) if slash else (default_channel, provider_id)


def request_body(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON body of chat.postMessage, or of chat.update when the message replaces one."""
    chat = message.chat
    assert chat is not None, "a Slack message is made from a chat card"
    metadata = {
        "event_type": METADATA_EVENT,
        "event_payload": {"delivery_id": message.delivery_id, "event": chat.event.value},
    }
    body: dict[str, Any] = {
        "channel": message.to,
        "text": _escape(chat.card.text),
        "blocks": card_blocks(chat.card),
        "metadata": metadata,
    }
    if chat.replaces:
        body["channel"], body["ts"] = message_ref(chat.replaces, message.to)
    else:
        body["unfurl_links"] = False
        body["unfurl_media"] = False
    return body


def api_method(message: OutgoingMessage) -> str:
    """The Web API method `message` is sent with: an edit when it replaces a message."""
    chat = message.chat
    return "chat.update" if chat is not None and chat.replaces else "chat.postMessage"


def slack_preview(message: OutgoingMessage) -> dict[str, Any]:
    """The Web API call `message` would make (method and JSON body), without the bot token."""
    return {"method": api_method(message), "body": request_body(message)}


def answer_outcome(response: httpx.Response, *, channel: str) -> SendResult:
    """What Slack's answer to chat.postMessage or chat.update means for the send."""
    data = json_object(response)
    error = data.get("error") if isinstance(data.get("error"), str) else None
    if response.status_code == 429 or error in _RATE_LIMITED:
        return SendResult(
            Outcome.retryable,
            error=f"Slack asks to slow down ({error or 'HTTP 429'})",
            error_code=error or "ratelimited",
            retry_after=retry_after_of(response),
        )
    if response.status_code >= 500 or error in _SLACK_TROUBLE:
        # Slack may have posted the message before failing: only a look-up can tell.
        return SendResult(
            Outcome.unknown,
            error=f"Slack answered HTTP {response.status_code} ({error or 'no error'})",
            error_code=error or str(response.status_code),
        )
    if response.status_code == 200 and data.get("ok") is True:
        ts = data.get("ts")
        if not isinstance(ts, str) or not ts:
            return SendResult(Outcome.unknown, error="Slack answered ok without the message's ts")
        posted_in = data.get("channel")
        if isinstance(posted_in, str) and posted_in and posted_in != channel:
            return SendResult.sent(f"{posted_in}/{ts}")
        return SendResult.sent(ts)
    # invalid_auth, not_authed, account_inactive, token_revoked, channel_not_found,
    # not_in_channel, is_archived, msg_too_long, invalid_blocks, message_not_found, ...
    # and any other 4xx: the same request cannot succeed later.
    return SendResult(
        Outcome.permanent,
        error=f"Slack refused the message: {error or f'HTTP {response.status_code}'}",
        error_code=error or str(response.status_code),
    )


def _slack_ts(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


class SlackProvider(ApiChatProvider):
    """Posts each memo card with chat.postMessage and edits it with chat.update."""

    channel = Channel.slack
    peer = "Slack"

    @classmethod
    def configured(cls, settings: Settings) -> dict[str, Any]:
        """Slack is reached at RELAY_SLACK_API_BASE."""
        return {"api_base": settings.slack_api_base}

    async def _token(self, message: OutgoingMessage) -> str:
        """The destination's bot token; the attempt ends for good when it is unset."""
        return await self.secret(
            option(message, "secret"),
            where="set the workspace's bot token in /admin/secrets",
        )

    async def attempt(self, message: OutgoingMessage) -> SendResult:
        """Post (or edit) the memo's message once."""
        token = await self._token(message)
        response = await self.request(
            "POST",
            f"{self.api_base}/{api_method(message)}",
            json=request_body(message),
            headers={"Authorization": f"Bearer {token}"},
        )
        # An edit answers with the channel it was made in: the same id as the original's.
        return answer_outcome(response, channel=message.to)

    def log_label(self, message: OutgoingMessage) -> str:
        """The platform and the Web API method."""
        return f"slack {api_method(message)}"

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Find the message by its delivery id among the channel's messages since the attempt.

        Each message Relay posts or edits carries its delivery's id in its metadata. An edit is
        looked for in the message it edits: not edited yet means the edit never arrived.
        """
        try:
            token = await self._token(message)
        except AttemptEnded as ended:
            return LookupResult.unreachable(ended.result.error or "no bot token")
        replaces = message.chat.replaces if message.chat else None
        params: dict[str, str | int] = {"include_all_metadata": "true", "limit": LOOKUP_PAGE_SIZE}
        if replaces:
            channel, ts = message_ref(replaces, message.to)
            params.update(channel=channel, oldest=ts, latest=ts, inclusive="true", limit=1)
        else:
            channel = message.to
            params["channel"] = channel
            if message.attempted_at is not None:
                params["oldest"] = _slack_ts(message.attempted_at - CLOCK_SKEW)
        cursor: str | None = None
        for _ in range(LOOKUP_MAX_PAGES):
            page = await self._history(token, {**params, **({"cursor": cursor} if cursor else {})})
            if isinstance(page, LookupResult):
                log.warning(
                    "slack lookup delivery=%s: %s", message.delivery_id, page.detail or "no answer"
                )
                return page
            for item in page.get("messages") or []:
                if _carries(item, message.delivery_id):
                    ts = str(item.get("ts") or "")
                    provider_id = replaces or (ts if channel == message.to else f"{channel}/{ts}")
                    return LookupResult(Found.found, provider_id=provider_id)
            meta = page.get("response_metadata")
            cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
            if not page.get("has_more") or not cursor:
                return LookupResult.absent()
        return LookupResult.unclear(
            f"Slack lists more than {LOOKUP_PAGE_SIZE * LOOKUP_MAX_PAGES} messages in "
            f"{channel} since the attempt"
        )

    async def _history(
        self, token: str, params: dict[str, str | int]
    ) -> dict[str, Any] | LookupResult:
        """One page of conversations.history, or why it could not be had."""
        try:
            response = await self._client.get(
                f"{self.api_base}/conversations.history",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            return LookupResult.unreachable(f"could not reach Slack ({network_detail(error)})")
        data = json_object(response)
        if response.status_code != 200 or data.get("ok") is not True:
            word = data.get("error")
            return LookupResult.unreachable(
                f"Slack refused the look-up: HTTP {response.status_code} ({word or 'no error'})"
            )
        return data


def _carries(item: object, delivery_id: str) -> bool:
    """Whether a listed message carries `delivery_id` in Relay's metadata."""
    if not isinstance(item, dict):
        return False
    metadata = item.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and payload.get("delivery_id") == delivery_id
