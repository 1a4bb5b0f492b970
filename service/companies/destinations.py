"""Where a company's chat messages go (CONTRACT §8): rooms, channels and users on chat platforms.

A destination names its credentials (`secret: acme-chatwork`); their values live in the
secret store, never in the company's document.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service.companies.values import ContactKey, ShortText, fail
from service.i18n import N_

_SECRET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_SLACK_CHANNEL = re.compile(r"[CGDU][A-Z0-9]{2,30}")
_LINE_ID = re.compile(r"[UCR][0-9a-f]{32}")
_PLATFORM_ID = re.compile(r"[A-Za-z0-9._@:-]{1,128}")


def _matching(pattern: re.Pattern[str], message: str) -> Any:
    def check(value: str) -> str:
        value = value.strip()
        if not pattern.fullmatch(value):
            fail(message, value=value)
        return value

    return AfterValidator(check)


SecretName = Annotated[
    str,
    _matching(
        _SECRET_NAME,
        N_("'%(value)s' is not a secret name: use a-z, 0-9, '.', '-' and '_', e.g. acme-chatwork"),
    ),
]
ChatworkId = Annotated[
    str, _matching(_DIGITS, N_("'%(value)s' is not a Chatwork id: digits only, e.g. 123456789"))
]
SlackChannel = Annotated[
    str,
    _matching(
        _SLACK_CHANNEL,
        N_("'%(value)s' is not a Slack channel id: e.g. C0123ABCD (not the #name)"),
    ),
]
LineId = Annotated[
    str,
    _matching(
        _LINE_ID, N_("'%(value)s' is not a LINE user, group or room id: U, C or R and 32 hex")
    ),
]
PlatformId = Annotated[
    str, _matching(_PLATFORM_ID, N_("'%(value)s' is not an id the platform gives"))
]


def _https_url(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"https://[^\s/?#]+[^\s]*", value) or len(value) > 320:
        fail(N_("'%(value)s' is not an https:// address"), value=value)
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
_LOOPBACK_HOSTS = r"(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])"


def _webhook_url(value: str) -> str:
    # A receiver on the same machine (a local automation tool, a test's stand-in) may take
    # plain http; anything that leaves the machine goes over https.
    value = value.strip()
    local = rf"http://{_LOOPBACK_HOSTS}(?::[0-9]{{1,5}})?(?:[/?#][^\s]*)?"
    if len(value) <= 320 and re.fullmatch(local, value):
        return value
    return _https_url(value)


WebhookUrl = Annotated[str, AfterValidator(_webhook_url)]
# The fields of a destination that name a stored secret.
_SECRET_FIELDS = ("secret", "webhook_secret", "signing_secret", "client_secret", "bot_secret")


class _Destination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: ContactKey
    # What people call it ("サポート室"); the key when not given.
    name: ShortText | None = None
    # The contact or destination notified when this one fails for good.
    fallback: ContactKey | None = None
    # Whether the company's daily recap is also posted here (off unless asked for).
    recap: bool | None = None

    @property
    def address(self) -> str:
        """Where on its platform the message goes, as a delivery records it."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """What a person calls this destination."""
        return self.name or self.key

    def secret_names(self) -> list[str]:
        """The stored secrets this destination needs."""
        found = (getattr(self, field, None) for field in _SECRET_FIELDS)
        return [name for name in found if name]

    def options(self) -> dict[str, Any]:
        """What its platform needs besides the address, as a delivery keeps it."""
        return self.model_dump(
            mode="json", exclude={"key", "name", "fallback", "recap"}, exclude_none=True
        )


class ChatworkDestination(_Destination):
    """A Chatwork room; `mention` lists account ids to `[To:]`."""

    kind: Literal["chatwork"]
    room_id: ChatworkId
    mention: list[ChatworkId] = Field(default_factory=list, max_length=20)
    secret: SecretName  # the API token of the account that posts
    webhook_secret: SecretName | None = None  # the webhook token that signs replies

    @property
    def address(self) -> str:
        return self.room_id


class SlackDestination(_Destination):
    """A Slack channel in the workspace where Relay's app is installed."""

    kind: Literal["slack"]
    channel: SlackChannel
    secret: SecretName  # that workspace's bot token

    @property
    def address(self) -> str:
        return self.channel


class LineWorksDestination(_Destination):
    """A LINE WORKS channel or user, reached by the company's bot."""

    kind: Literal["lineworks"]
    bot_id: PlatformId
    channel_id: PlatformId | None = None
    user_id: PlatformId | None = None
    client_id: PlatformId
    service_account: PlatformId
    secret: SecretName  # the service account's private key (PEM)
    client_secret: SecretName
    bot_secret: SecretName  # signs the bot's callbacks

    @model_validator(mode="after")
    def _one_target(self) -> LineWorksDestination:
        if (self.channel_id is None) == (self.user_id is None):
            fail(N_("give exactly one of `channel_id:` or `user_id:`"))
        return self

    @property
    def address(self) -> str:
        return f"channel:{self.channel_id}" if self.channel_id else f"user:{self.user_id}"


class LineDestination(_Destination):
    """A LINE user, group or room, pushed to by the bureau's official account."""

    kind: Literal["line"]
    to: LineId
    secret: SecretName  # the channel access token
    signing_secret: SecretName  # the channel secret, which signs postbacks

    @property
    def address(self) -> str:
        return self.to


class TeamsDestination(_Destination):
    """A Teams channel, posted to by a Workflows webhook."""

    kind: Literal["teams"]
    secret: SecretName  # the workflow's URL, which carries its key

    @property
    def address(self) -> str:
        return f"secret:{self.secret}"


class WebhookDestination(_Destination):
    """An endpoint of the company's own (a CRM, an automation tool) that takes signed events."""

    kind: Literal["webhook"]
    url: WebhookUrl
    secret: SecretName  # a Standard Webhooks key, whsec_…

    @property
    def address(self) -> str:
        return self.url

    def options(self) -> dict[str, Any]:
        # Each event names the destination it is for, so one endpoint can serve several.
        return {**super().options(), "key": self.key}


Destination = Annotated[
    ChatworkDestination
    | SlackDestination
    | LineWorksDestination
    | LineDestination
    | TeamsDestination
    | WebhookDestination,
    Field(discriminator="kind"),
]
