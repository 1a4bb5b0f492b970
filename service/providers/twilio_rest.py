"""Twilio's REST API over httpx: authentication, error parsing and what an answer means."""

from __future__ import annotations

import math
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from service import clock
from service.providers.base import Outcome, SendResult
from service.settings import Settings

API_VERSION = "2010-04-01"
DEFAULT_TIMEOUT = httpx.Timeout(10.0)
RATE_LIMITED_CODE = "20429"


@dataclass(frozen=True)
class RestAnswer:
    """One HTTP answer from Twilio, with its JSON object when the body was one."""

    status_code: int
    data: dict[str, Any] | None
    headers: httpx.Headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def error_code(self) -> str | None:
        code = (self.data or {}).get("code")
        return str(code) if code is not None else None

    @property
    def error_message(self) -> str:
        message = (self.data or {}).get("message")
        if isinstance(message, str) and message:
            return message
        return f"Twilio answered HTTP {self.status_code}"


class TwilioRest:
    """The account's REST resources under `{api_base}/2010-04-01/Accounts/{sid}`."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str = "https://api.twilio.com",
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self.account_url = f"{api_base.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}"
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)

    @classmethod
    def from_settings(
        cls, *, settings: Settings, http_client: httpx.AsyncClient | None = None
    ) -> TwilioRest:
        """The REST client of the configured account."""
        if settings.twilio_account_sid is None or settings.twilio_auth_token is None:
            raise ValueError("Twilio is not configured (RELAY_TWILIO_ACCOUNT_SID/AUTH_TOKEN)")
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            api_base=settings.twilio_api_base,
            http_client=http_client,
        )

    async def post_form(self, path: str, form: dict[str, str]) -> RestAnswer:
        """POST a form to `path` (e.g. "/Messages.json"); network errors propagate."""
        response = await self._client.post(self.account_url + path, data=form, auth=self._auth)
        return _answer(response)

    async def get(self, path: str, params: dict[str, str | int]) -> RestAnswer:
        """GET `path` with a query; network errors propagate."""
        response = await self._client.get(self.account_url + path, params=params, auth=self._auth)
        return _answer(response)

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            await self._client.aclose()


def _answer(response: httpx.Response) -> RestAnswer:
    try:
        data = response.json()
    except ValueError:
        data = None
    return RestAnswer(
        status_code=response.status_code,
        data=data if isinstance(data, dict) else None,
        headers=response.headers,
    )


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = (moment - clock.now()).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def create_outcome(answer: RestAnswer, *, resource: str = "message") -> SendResult:
    """What Twilio's answer to creating a resource (a message, a call) means for the send."""
    if answer.ok:
        sid = (answer.data or {}).get("sid")
        if isinstance(sid, str) and sid:
            return SendResult.sent(sid)
        # Accepted, but no SID to follow it by: only a look-up can tell what happened.
        return SendResult(
            Outcome.unknown,
            error=f"Twilio answered HTTP {answer.status_code} without a {resource} SID",
        )
    code = answer.error_code
    if answer.status_code == 429 or code == RATE_LIMITED_CODE:
        return SendResult(
            Outcome.retryable,
            error=answer.error_message,
            error_code=code or "429",
            retry_after=retry_after_seconds(answer.headers.get("retry-after")),
        )
    if 400 <= answer.status_code < 500:
        # 21211 invalid To, 21610 recipient opted out, 21614 landline, 21408 region not
        # enabled, 21612 unreachable route, ... and credentials or account problems:
        # sending the same request again cannot succeed.
        return SendResult(
            Outcome.permanent,
            error=answer.error_message,
            error_code=code or str(answer.status_code),
        )
    # A 5xx (or anything unexpected) may come after Twilio created the resource.
    return SendResult(
        Outcome.unknown, error=answer.error_message, error_code=code or str(answer.status_code)
    )


def network_outcome(error: httpx.HTTPError) -> SendResult:
    """What a network failure while creating a resource means for the send."""
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # No connection to Twilio was made (or none was free): nothing went out.
        return SendResult(Outcome.retryable, error=f"could not reach Twilio ({detail})")
    # The request may have reached Twilio (read/write timeout, connection dropped).
    return SendResult(Outcome.unknown, error=f"no answer from Twilio ({detail})")
