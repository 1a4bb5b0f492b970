"""Chat platforms as providers: each takes a memo's card to its platform (CONTRACT §8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.channels import Channel
from service.providers.base import OutgoingMessage, Provider
from service.providers.chat.chatwork import ChatworkProvider, chatwork_preview
from service.providers.chat.line import LineProvider, line_preview
from service.providers.chat.lineworks import LineWorksProvider, lineworks_preview
from service.providers.chat.slack import SlackProvider, slack_preview
from service.providers.chat.teams import TeamsProvider, teams_preview
from service.providers.chat.webhook import WebhookProvider, webhook_preview

ChatProviderFactory = Callable[..., Provider]
# A platform's request as it would be sent (JSON, no credentials), for the dev outbox and
# the admin preview: built from an OutgoingMessage whose `chat` is set.
ChatPreview = Callable[[OutgoingMessage], dict[str, Any]]

# Each platform's provider, built with (settings=, secrets=, http_client=).
CHAT_PROVIDERS: dict[Channel, ChatProviderFactory] = {
    Channel.slack: SlackProvider.from_settings,
    Channel.chatwork: ChatworkProvider.from_settings,
    Channel.lineworks: LineWorksProvider.from_settings,
    Channel.line: LineProvider.from_settings,
    Channel.teams: TeamsProvider.from_settings,
    Channel.webhook: WebhookProvider.from_settings,
}
CHAT_PREVIEWS: dict[Channel, ChatPreview] = {
    Channel.slack: slack_preview,
    Channel.chatwork: chatwork_preview,
    Channel.lineworks: lineworks_preview,
    Channel.line: line_preview,
    Channel.teams: teams_preview,
    Channel.webhook: webhook_preview,
}
