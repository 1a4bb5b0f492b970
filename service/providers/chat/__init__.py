"""Chat platforms as providers: each takes a memo's card to its platform (CONTRACT §8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.channels import Channel
from service.providers.base import OutgoingMessage, Provider

ChatProviderFactory = Callable[..., Provider]

# Each platform's provider, built with (settings=, secrets=, http_client=).
CHAT_PROVIDERS: dict[Channel, ChatProviderFactory] = {}

# Each platform's request as it would be sent (JSON, no credentials), for the dev outbox
# and the admin preview: built from an OutgoingMessage whose `chat` is set.
ChatPreview = Callable[[OutgoingMessage], dict[str, Any]]
CHAT_PREVIEWS: dict[Channel, ChatPreview] = {}

# Each platform registers itself here (imported last: they use the names above).
from service.providers.chat.slack import SlackProvider, slack_preview  # noqa: E402

CHAT_PROVIDERS[Channel.slack] = SlackProvider.from_settings
CHAT_PREVIEWS[Channel.slack] = slack_preview

from service.providers.chat.lineworks import LineWorksProvider, lineworks_preview  # noqa: E402

CHAT_PROVIDERS[Channel.lineworks] = LineWorksProvider.from_settings
CHAT_PREVIEWS[Channel.lineworks] = lineworks_preview

from service.providers.chat.chatwork import ChatworkProvider, chatwork_preview  # noqa: E402

CHAT_PROVIDERS[Channel.chatwork] = ChatworkProvider.from_settings
CHAT_PREVIEWS[Channel.chatwork] = chatwork_preview

from service.providers.chat.line import LineProvider, line_preview  # noqa: E402

CHAT_PROVIDERS[Channel.line] = LineProvider.from_settings
CHAT_PREVIEWS[Channel.line] = line_preview

from service.providers.chat.teams import TeamsProvider, teams_preview  # noqa: E402

CHAT_PROVIDERS[Channel.teams] = TeamsProvider.from_settings
CHAT_PREVIEWS[Channel.teams] = teams_preview

from service.providers.chat.webhook import WebhookProvider, webhook_preview  # noqa: E402

CHAT_PROVIDERS[Channel.webhook] = WebhookProvider.from_settings
CHAT_PREVIEWS[Channel.webhook] = webhook_preview
