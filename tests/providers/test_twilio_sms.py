"""The Twilio SMS provider against a stand-in Twilio (respx): every outcome of one send."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from service.clock import ManualClock
from service.providers.base import Found, Outcome
from service.providers.twilio.rest import TwilioRest, retry_after_seconds
from service.providers.twilio.sms import LOOKUP_MAX_PAGES, TwilioSmsProvider
from tests.factories import make_outgoing_message

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token"
API_BASE = "https://api.twilio.test"
MESSAGES_URL = f"{API_BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SMS_FROM = "+815011112222"
MESSAGE_SID = "SM" + "a" * 32


def make_provider(
    http_client: httpx.AsyncClient | None = None,
    *,
    api_base: str = API_BASE,
    sms_from: str | None = SMS_FROM,
    messaging_service_sid: str | None = None,
) -> TwilioSmsProvider:
    rest = TwilioRest(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=api_base, http_client=http_client
    )
    return TwilioSmsProvider(
        rest=rest,
        sms_from=sms_from,
        messaging_service_sid=messaging_service_sid,
        default_status_callback="http://testserver/twilio/sms/status",
    )


def twilio_error(code: int, message: str, status: int) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@pytest.fixture
async def provider() -> AsyncIterator[TwilioSmsProvider]:
    sms = make_provider()
    yield sms
    await sms.aclose()


def sent_form(route: respx.Route) -> dict[str, str]:
    request = route.calls.last.request
    parsed = parse_qs(request.content.decode(), strict_parsing=True)
    return {name: values[0] for name, values in parsed.items()}


async def test_201_is_sent_with_the_message_sid(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(
        201, json={"sid": MESSAGE_SID, "status": "queued", "to": "+819012345678"}
    )

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.sent
    assert result.provider_id == MESSAGE_SID
    assert result.error is None
    assert route.call_count == 1


async def test_the_request_carries_to_from_body_status_callback_and_the_accounts_basic_auth(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json={"sid": MESSAGE_SID})
    text = "【至急】さくら歯科：山田様より苦情。確認はこちら http://testserver/a/abc 😀"
    callback = "http://testserver/twilio/sms/status?delivery=abc123"

    await provider.send(make_outgoing_message(text=text, status_callback=callback))

    request = route.calls.last.request
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent_form(route) == {
        "To": "+819012345678",
        "From": SMS_FROM,
        "Body": text,
        "StatusCallback": callback,
    }


async def test_a_messaging_service_replaces_from(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json={"sid": MESSAGE_SID})
    provider = make_provider(sms_from=None, messaging_service_sid="MG" + "b" * 32)

    await provider.send(make_outgoing_message())
    await provider.aclose()

    form = sent_form(route)
    assert form["MessagingServiceSid"] == "MG" + "b" * 32
    assert "From" not in form


async def test_without_a_status_callback_on_the_message_the_default_one_is_sent(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json={"sid": MESSAGE_SID})

    await provider.send(make_outgoing_message(status_callback=None))

    assert sent_form(route)["StatusCallback"] == "http://testserver/twilio/sms/status"


def test_a_provider_needs_a_sender() -> None:
    with pytest.raises(ValueError, match="sender"):
        make_provider(sms_from=None, messaging_service_sid=None)


async def test_http_429_is_retryable_after_the_retry_after_seconds(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(MESSAGES_URL).respond(
        429,
        json=twilio_error(20429, "Too Many Requests", 429),
        headers={"Retry-After": "7"},
    )

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.retryable
    assert result.retry_after == 7.0
    assert result.error_code == "20429"
    assert result.error == "Too Many Requests"


async def test_retry_after_as_an_http_date_counts_from_the_clock(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    # The manual clock starts at 2026-01-05 00:00:00 UTC.
    respx_mock.post(MESSAGES_URL).respond(
        429, text="slow down", headers={"Retry-After": "Mon, 05 Jan 2026 00:00:30 GMT"}
    )

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.retryable
    assert result.retry_after == 30.0
    assert result.error_code == "429"


def test_retry_after_values(clock: ManualClock) -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds("Sun, 04 Jan 2026 23:00:00 GMT") == 0.0  # already past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None
    assert retry_after_seconds(None) is None


async def test_twilio_code_20429_is_retryable_whatever_the_http_status(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(MESSAGES_URL).respond(400, json=twilio_error(20429, "Too many", 400))

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.retryable
    assert result.error_code == "20429"
    assert result.retry_after is None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "The 'To' number +8190 is not a valid phone number."),
        (21610, "Attempt to send to unsubscribed recipient"),
        (21614, "'To' number is not a valid mobile number"),
        (21408, "Permission to send an SMS has not been enabled for the region"),
        (21612, "The 'To' phone number is not currently reachable"),
    ],
)
async def test_twilio_refusals_are_permanent_with_the_code_and_message(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, code: int, message: str
) -> None:
    respx_mock.post(MESSAGES_URL).respond(400, json=twilio_error(code, message, 400))

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.permanent
    assert result.error_code == str(code)
    assert result.error == message


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_other_4xx_are_permanent(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.post(MESSAGES_URL).respond(status, json=twilio_error(20003, "Authenticate", status))

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.permanent
    assert result.error_code == "20003"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_unknown_because_twilio_may_have_accepted_it(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.post(MESSAGES_URL).respond(status, json=twilio_error(20500, "Internal", status))

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.unknown
    assert result.error_code == "20500"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(400, Outcome.permanent), (502, Outcome.unknown), (201, Outcome.unknown)],
)
async def test_a_garbage_body_does_not_crash(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, status: int, outcome: Outcome
) -> None:
    respx_mock.post(MESSAGES_URL).respond(
        status, text="<html>Bad Gateway</html>", headers={"Content-Type": "text/html"}
    )

    result = await provider.send(make_outgoing_message())

    assert result.outcome == outcome
    assert result.provider_id is None
    assert result.error is not None
    assert str(status) in result.error


async def test_a_json_body_that_is_not_an_object_does_not_crash(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(MESSAGES_URL).respond(400, json=["not", "an", "object"])

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.permanent
    assert result.error_code == "400"


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout("read timed out"), httpx.WriteTimeout("write timed out")]
)
async def test_a_timeout_after_connecting_is_unknown(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, error: Exception
) -> None:
    respx_mock.post(MESSAGES_URL).mock(side_effect=error)

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.unknown
    assert result.error is not None
    assert type(error).__name__ in result.error


async def test_a_dropped_connection_is_unknown(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(MESSAGES_URL).mock(
        side_effect=httpx.RemoteProtocolError("Server disconnected without sending a response.")
    )

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.unknown


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.PoolTimeout("no free connection"),
    ],
)
async def test_failing_to_connect_is_retryable(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, error: Exception
) -> None:
    respx_mock.post(MESSAGES_URL).mock(side_effect=error)

    result = await provider.send(make_outgoing_message())

    assert result.outcome == Outcome.retryable
    assert result.retry_after is None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_nothing_listening_is_retryable_for_real() -> None:
    provider = make_provider(api_base=f"http://127.0.0.1:{_closed_port()}")

    result = await provider.send(make_outgoing_message())
    await provider.aclose()

    assert result.outcome == Outcome.retryable
    assert result.error is not None
    assert "could not reach Twilio" in result.error


async def test_a_given_http_client_is_used_and_left_open(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MESSAGES_URL).respond(201, json={"sid": MESSAGE_SID})
    async with httpx.AsyncClient() as shared:
        provider = make_provider(shared)
        result = await provider.send(make_outgoing_message())
        await provider.aclose()
        assert not shared.is_closed
    assert result.provider_id == MESSAGE_SID


async def test_an_owned_http_client_is_closed_with_the_provider() -> None:
    provider = make_provider()
    await provider.aclose()
    with pytest.raises(RuntimeError):
        await provider.rest.get("/Messages.json", {})


# --- lookup: finding a message whose send outcome was unknown --------------------------------


def listed(*messages: dict[str, str], next_page_uri: str | None = None) -> dict[str, object]:
    return {"messages": list(messages), "page": 0, "page_size": 50, "next_page_uri": next_page_uri}


def listed_message(
    sid: str, to: str, body: str, *, at: datetime, status: str = "sent"
) -> dict[str, str]:
    moment = format_datetime(at)
    return {
        "sid": sid,
        "to": to,
        "body": body,
        "status": status,
        "date_created": moment,
        "date_sent": moment,
    }


def list_in_two_pages(
    respx_mock: respx.MockRouter, first: list[dict[str, str]], second: list[dict[str, str]]
) -> tuple[respx.Route, respx.Route]:
    """Twilio's messages in two pages, the second named by the first's next_page_uri."""
    page_2 = (
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json?To=%2B819012345678&Page=1&PageToken=PA1"
    )
    # The second page's route first: respx takes the first route that matches.
    second_page = respx_mock.get(MESSAGES_URL, params={"PageToken": "PA1"}).respond(
        200, json=listed(*second)
    )
    first_page = respx_mock.get(MESSAGES_URL).respond(
        200, json=listed(*first, next_page_uri=page_2)
    )
    return first_page, second_page


async def test_lookup_finds_the_message_by_recipient_and_exact_body(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    message = make_outgoing_message(text="【至急】伝言があります。http://testserver/a/xyz")
    route = respx_mock.get(MESSAGES_URL).respond(
        200,
        json=listed(
            {"sid": "SM" + "1" * 32, "to": message.to, "body": "別の伝言", "status": "delivered"},
            {"sid": "SM" + "2" * 32, "to": message.to, "body": message.text, "status": "sent"},
        ),
    )

    found = await provider.lookup(message)

    assert (found.state, found.provider_id, found.status) == (
        Found.found,
        "SM" + "2" * 32,
        "sent",
    )
    params = route.calls.last.request.url.params
    assert params["To"] == message.to
    assert params["PageSize"] == "50"
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")


async def test_lookup_without_a_match_is_absent(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter
) -> None:
    message = make_outgoing_message()
    respx_mock.get(MESSAGES_URL).respond(
        200,
        json=listed(
            {"sid": "SM" + "1" * 32, "to": message.to, "body": message.text + " ", "status": "sent"}
        ),
    )

    found = await provider.lookup(message)

    assert (found.state, found.provider_id) == (Found.absent, None)


async def test_lookup_reads_the_next_pages_down_to_the_attempt(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    attempt = clock.now()
    message = make_outgoing_message(attempted_at=attempt)
    busy = [
        listed_message(
            f"SM{n:032d}", message.to, f"別の伝言 {n}", at=attempt + timedelta(seconds=n)
        )
        for n in range(1, 4)
    ]
    first, second = list_in_two_pages(
        respx_mock, busy, [listed_message(MESSAGE_SID, message.to, message.text, at=attempt)]
    )

    found = await provider.lookup(message)

    assert (found.state, found.provider_id) == (Found.found, MESSAGE_SID)
    assert (first.call_count, second.call_count) == (1, 1)


async def test_lookup_stops_at_a_page_older_than_the_attempt(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    attempt = clock.now()
    message = make_outgoing_message(attempted_at=attempt)
    old = [
        listed_message(f"SM{n:032d}", message.to, "前の伝言", at=attempt - timedelta(hours=n))
        for n in range(1, 4)
    ]
    _, second = list_in_two_pages(respx_mock, old, [])

    found = await provider.lookup(message)

    assert found.state == Found.absent
    assert second.call_count == 0


async def test_an_old_message_not_sent_yet_keeps_the_lookup_reading(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    attempt = clock.now()
    message = make_outgoing_message(attempted_at=attempt)
    queued = listed_message(
        "SM" + "9" * 32, message.to, "前の伝言", at=attempt - timedelta(hours=1)
    )
    queued["date_sent"] = None  # type: ignore[assignment]
    _, second = list_in_two_pages(
        respx_mock, [queued], [listed_message(MESSAGE_SID, message.to, message.text, at=attempt)]
    )

    found = await provider.lookup(message)

    assert (found.state, second.call_count) == (Found.found, 1)


async def test_a_list_too_long_to_read_cannot_tell(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    message = make_outgoing_message(attempted_at=clock.now())
    newer = listed_message("SM" + "8" * 32, message.to, "別", at=clock.now() + timedelta(minutes=1))
    page = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json?To=%2B819012345678&PageToken=PA"
    route = respx_mock.get(MESSAGES_URL).respond(200, json=listed(newer, next_page_uri=page))

    found = await provider.lookup(message)

    assert found.state == Found.unclear
    assert route.call_count == LOOKUP_MAX_PAGES


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json=twilio_error(20500, "Internal", 500)),
        httpx.Response(503, text="upstream gone"),
        httpx.Response(429, json=twilio_error(20429, "Too Many Requests", 429)),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"unexpected": True}),
        httpx.Response(401, json=twilio_error(20003, "Authenticate", 401)),
    ],
)
async def test_a_lookup_twilio_does_not_answer_is_unreachable(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, answer: httpx.Response
) -> None:
    respx_mock.get(MESSAGES_URL).mock(return_value=answer)

    found = await provider.lookup(make_outgoing_message())

    assert found.state == Found.unreachable
    assert found.detail is not None and str(answer.status_code) in found.detail


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow")],
)
async def test_lookup_after_a_network_error_is_unreachable(
    provider: TwilioSmsProvider, respx_mock: respx.MockRouter, error: httpx.HTTPError
) -> None:
    respx_mock.get(MESSAGES_URL).mock(side_effect=error)

    found = await provider.lookup(make_outgoing_message())

    assert found.state == Found.unreachable
    assert found.detail is not None and "could not reach Twilio" in found.detail
