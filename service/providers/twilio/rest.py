"""Twilio's REST API over httpx: authentication, error parsing and what an answer means."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from service import clock
from service.providers.base import Found, LookupResult, Outcome, OutgoingMessage, SendResult
from service.settings import Settings

log = logging.getLogger(__name__)

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
        self.api_base = api_base.rstrip("/")
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

    async def create(
        self, path: str, form: dict[str, str], *, resource: str, delivery_id: str
    ) -> SendResult:
        """Ask Twilio once to create a message or a call; never raises for its or network errors."""
        try:
            answer = await self.post_form(path, form)
        except httpx.HTTPError as error:
            result = network_outcome(error)
        else:
            result = create_outcome(answer, resource=resource)
        log.info(
            "twilio %s delivery=%s outcome=%s code=%s",
            resource,
            delivery_id,
            result.outcome,
            result.error_code,
        )
        return result

    async def get(self, path: str, params: dict[str, str | int]) -> RestAnswer:
        """GET `path` with a query; network errors propagate."""
        response = await self._client.get(self.account_url + path, params=params, auth=self._auth)
        return _answer(response)

    async def get_next(self, uri: str) -> RestAnswer:
        """GET a list's `next_page_uri` (a path from the API's root); network errors propagate."""
        if not uri.startswith(f"/{API_VERSION}/Accounts/{self.account_sid}/"):
            raise ValueError(f"not a page of this account: {uri!r}")
        response = await self._client.get(self.api_base + uri, auth=self._auth)
        return _answer(response)

    async def list_since(
        self,
        path: str,
        params: dict[str, str | int],
        *,
        key: str,
        since: datetime | None,
        max_pages: int,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The items of a list resource down to the first page holding nothing since `since`,
        or to the first item `until` accepts.

        Twilio lists newest first. Without `since`, every page is read. Raises
        `ListUnanswered` when a page could not be had, `ListTooLong` when `max_pages` were
        not enough.
        """
        items: list[dict[str, Any]] = []
        next_uri: str | None = None
        for _ in range(max_pages):
            try:
                answer = await (
                    self.get(path, params) if next_uri is None else self.get_next(next_uri)
                )
            except httpx.HTTPError as error:
                raise ListUnanswered(
                    f"could not reach Twilio ({_network_detail(error)})"
                ) from error
            except ValueError as error:
                raise ListUnanswered(f"Twilio's next page is not ours: {error}") from error
            page = (answer.data or {}).get(key)
            if answer.status_code != 200 or not isinstance(page, list):
                raise ListUnanswered(_unanswered_detail(answer))
            found = [item for item in page if isinstance(item, dict)]
            items.extend(found)
            if until is not None and any(until(item) for item in found):
                return items
            link = (answer.data or {}).get("next_page_uri")
            next_uri = link if isinstance(link, str) and link else None
            if next_uri is None:
                return items
            if since is not None and all(_older_than(item, since) for item in found):
                return items
        raise ListTooLong(f"more than {max_pages} pages of {key} to read")

    async def list_for_lookup(
        self,
        path: str,
        params: dict[str, str | int],
        *,
        key: str,
        message: OutgoingMessage,
        since: datetime | None,
        page_size: int,
        max_pages: int,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]] | LookupResult:
        """The items a look-up for `message` reads (see `list_since`), or what it learnt when
        it could not read them: unreachable (Twilio could not be asked now) or unclear (the
        list runs on past `max_pages` pages of `page_size`)."""
        try:
            return await self.list_since(
                path,
                {**params, "PageSize": page_size},
                key=key,
                since=since,
                max_pages=max_pages,
                until=until,
            )
        except ListUnanswered as error:
            log.warning(
                "twilio %s lookup delivery=%s: %s",
                message.channel.value,
                message.delivery_id,
                error.detail,
            )
            return LookupResult.unreachable(error.detail)
        except ListTooLong:
            return LookupResult.unclear(
                f"Twilio lists more than {page_size * max_pages} {key} to "
                f"{message.to} since the attempt"
            )

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            await self._client.aclose()


class ListUnanswered(Exception):
    """Twilio could not be asked for a list now (network, 5xx, 429, refused, garbled)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ListTooLong(Exception):
    """A list ran on past the pages a look-up may read."""


def _network_detail(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _unanswered_detail(answer: RestAnswer) -> str:
    if answer.ok:
        return f"Twilio answered HTTP {answer.status_code} without the list"
    code = f" (code {answer.error_code})" if answer.error_code else ""
    return f"Twilio refused the look-up: HTTP {answer.status_code}{code} {answer.error_message}"


def twilio_date(value: object) -> datetime | None:
    """A date as Twilio writes it (RFC 2822), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


# Every moment of a listed item; one still unset (a message not yet sent) is not old.
_ITEM_MOMENTS = ("date_created", "date_sent", "start_time")


def _older_than(item: dict[str, Any], since: datetime) -> bool:
    """Whether every moment of `item` is before `since`, so later pages are older still.

    Twilio orders a list by creation or by sending time, newest (and unsent) first; an
    item old by both counts leaves nothing newer after it under either order.
    """
    created = twilio_date(item.get("date_created"))
    if created is None or created >= since:
        return False
    for name in _ITEM_MOMENTS[1:]:
        if name not in item:
            continue
        moment = twilio_date(item[name])
        if moment is None or moment >= since:
            return False
    return True


def found_item(
    item: dict[str, Any], *, status_words: Mapping[str, str] | None = None
) -> LookupResult:
    """A look-up's answer when Twilio lists the message or call as `item`: its SID and status
    word (renamed through `status_words` where a word means something else for us)."""
    sid = item.get("sid")
    status = item.get("status")
    if isinstance(status, str) and status_words:
        status = status_words.get(status, status)
    return LookupResult(
        Found.found,
        provider_id=sid if isinstance(sid, str) else None,
        status=status if isinstance(status, str) else None,
    )


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
    detail = _network_detail(error)
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # No connection to Twilio was made (or none was free): nothing went out.
        return SendResult(Outcome.retryable, error=f"could not reach Twilio ({detail})")
    # The request may have reached Twilio (read/write timeout, connection dropped).
    return SendResult(Outcome.unknown, error=f"no answer from Twilio ({detail})")
