"""What the chat providers share: their HTTP client, secrets, network failures and answers.

Each platform's own rules (which answers it gives, how it authenticates, whether it can be
asked what it posted) stay in its module; here is only what reads the same for all six.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, ClassVar, Self

import httpx

from service.channels import Channel
from service.providers.base import ChatPayload, Outcome, OutgoingMessage, Secrets, SendResult
from service.providers.twilio.rest import retry_after_seconds
from service.settings import Settings

DEFAULT_TIMEOUT = httpx.Timeout(10.0)


class AttemptEnded(Exception):
    """An attempt that ended before the platform's answer could be read; `result` says how."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.error)
        self.result = result


def permanent(error: str, *, error_code: str | None = None) -> AttemptEnded:
    """The end of an attempt that can never succeed as it is, for `error`."""
    return AttemptEnded(SendResult(Outcome.permanent, error=error, error_code=error_code))


def chat_of(message: OutgoingMessage, *, missing: str) -> ChatPayload:
    """The message's chat payload; without one the attempt ends for good, for `missing`."""
    if message.chat is None:
        raise permanent(missing)
    return message.chat


def option(message: OutgoingMessage, key: str) -> str:
    """A destination's option as text (the name of a secret, an id); empty when it has none."""
    return str((message.chat.options if message.chat else {}).get(key) or "")


def clip(text: str, limit: int) -> str:
    """`text` within a platform's `limit` of characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's body when it is a JSON object, else an empty one."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def retry_after_of(response: httpx.Response) -> float | None:
    """Seconds the answer's `Retry-After` header asks to wait, when it says."""
    return retry_after_seconds(response.headers.get("retry-after"))


def network_detail(error: httpx.HTTPError) -> str:
    """A network failure in a few words: its kind, and its message when it has one."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def nothing_sent(error: httpx.HTTPError) -> bool:
    """Whether the request failed before any of it left (no connection made, or none free)."""
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def network_outcome(error: httpx.HTTPError, *, peer: str, detail: str | None = None) -> SendResult:
    """What a network failure while sending to `peer` means: retry if nothing left, else unknown."""
    detail = network_detail(error) if detail is None else detail
    if nothing_sent(error):
        return SendResult(Outcome.retryable, error=f"could not reach {peer} ({detail})")
    # The request may have arrived (read/write timeout, connection dropped).
    return SendResult(Outcome.unknown, error=f"no answer from {peer} ({detail})")


def status_outcome(
    response: httpx.Response,
    *,
    error: str,
    error_code: str | None = None,
    retry_after: float | None = None,
) -> SendResult:
    """What a refusal means: 429 may pass later, another 4xx never will, the rest may have arrived.

    `error_code` defaults to the HTTP status, `retry_after` to what `Retry-After` says.
    """
    status = response.status_code
    code = error_code or str(status)
    if status == 429:
        wait = retry_after if retry_after is not None else retry_after_of(response)
        return SendResult(Outcome.retryable, error=error, error_code=code, retry_after=wait)
    if 400 <= status < 500:
        # A bad request, a refused credential, an unknown room or user: the same fails again.
        return SendResult(Outcome.permanent, error=error, error_code=code)
    # A 5xx may come after the platform took the message in.
    return SendResult(Outcome.unknown, error=error, error_code=code)


class ChatProvider:
    """A chat platform's provider: one HTTP client, the stored secrets, and a logged send."""

    channel: Channel
    # Who the platform is in an error about the network ("Slack", "the receiver").
    peer: ClassVar[str]
    timeout: ClassVar[httpx.Timeout] = DEFAULT_TIMEOUT

    def __init__(self, *, secrets: Secrets, http_client: httpx.AsyncClient | None = None) -> None:
        self.secrets = secrets
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=self.timeout)

    @classmethod
    def from_settings(
        cls,
        *,
        settings: Settings,
        secrets: Secrets,
        http_client: httpx.AsyncClient | None = None,
    ) -> Self:
        """The provider as Relay's settings configure it, reading each destination's secrets."""
        return cls(secrets=secrets, http_client=http_client, **cls.configured(settings))

    @classmethod
    def configured(cls, settings: Settings) -> dict[str, Any]:
        """What of the settings the provider is made with, by keyword: nothing by default."""
        return {}

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Try once to hand `message` over; never raises for the platform's or network errors."""
        try:
            result = await self.attempt(message)
        except AttemptEnded as ended:
            result = ended.result
        logging.getLogger(type(self).__module__).info(
            "%s delivery=%s outcome=%s code=%s",
            self.log_label(message),
            message.delivery_id,
            result.outcome,
            result.error_code,
        )
        return result

    async def attempt(self, message: OutgoingMessage) -> SendResult:
        """One attempt at sending `message`; may end early by raising AttemptEnded."""
        raise NotImplementedError

    def log_label(self, message: OutgoingMessage) -> str:
        """How the log names the platform and what an attempt did."""
        return self.channel.value

    async def secret(
        self, name: str, *, unnamed: str | None = None, where: str | None = None
    ) -> str:
        """The value of the secret `name`; ends the attempt for good when it has none.

        `unnamed` is the error when the destination names no secret at all; `where` says
        where an admin sets it, and then the error carries the code `secret_not_set`.
        """
        if not name and unnamed is not None:
            raise permanent(unnamed)
        value = await self.secrets.get(name) if name else None
        if value:
            return value
        if where is None:
            raise permanent(f"secret '{name}' is not set")
        raise permanent(f"secret '{name}' is not set: {where}", error_code="secret_not_set")

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request of an attempt; a network failure ends the attempt with what it means."""
        try:
            return await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise AttemptEnded(self.network_failure(error)) from error

    def network_failure(self, error: httpx.HTTPError) -> SendResult:
        """What a network failure while sending means for the attempt."""
        return network_outcome(error, peer=self.peer)

    async def aclose(self) -> None:
        """Close the HTTP client if the provider made it."""
        if self._owns_client:
            await self._client.aclose()


class ApiChatProvider(ChatProvider):
    """A provider that reaches its platform's API at one base URL the settings give."""

    def __init__(
        self, *, api_base: str, secrets: Secrets, http_client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(secrets=secrets, http_client=http_client)
        self.api_base = api_base.rstrip("/")
