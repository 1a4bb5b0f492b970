"""The Twilio voice provider against a stand-in Twilio (respx): every outcome of one call-out."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from service.channels import Channel
from service.clock import ManualClock
from service.providers.base import Found, Outcome, OutgoingMessage
from service.providers.twilio.rest import TwilioRest
from service.providers.twilio.voice import TwilioVoiceProvider
from tests.factories import make_outgoing_message

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token"
API_BASE = "https://api.twilio.test"
CALLS_URL = f"{API_BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CALLER_ID = "+815011112222"
PUBLIC = "https://relay.example.jp"
CALL_SID = "CA" + "a" * 32
DELIVERY = "d" * 32
SUMMARY = (
    "佐藤 院長様。さくら歯科クリニックの電話代行でございます。\n"
    "至急のご伝言が1件ございます。\n"
    "ご確認いただけましたら1を、もう一度お聞きになる場合は2を押してください。"
)


def make_call_message(**overrides: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "delivery_id": DELIVERY,
        "channel": Channel.voice,
        "text": SUMMARY,
        "status_callback": f"{PUBLIC}/twilio/voice/callout/status?d={DELIVERY}",
    }
    fields.update(overrides)
    message: OutgoingMessage = make_outgoing_message(**fields)
    return message


def make_provider(*, api_base: str = API_BASE) -> TwilioVoiceProvider:
    rest = TwilioRest(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=api_base)
    return TwilioVoiceProvider(rest=rest, caller_id=CALLER_ID, public_base_url=PUBLIC + "/")


def twilio_error(code: int, message: str, status: int) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@pytest.fixture
async def provider() -> AsyncIterator[TwilioVoiceProvider]:
    voice = make_provider()
    yield voice
    await voice.aclose()


def sent_form(route: respx.Route) -> dict[str, list[str]]:
    return parse_qs(route.calls.last.request.content.decode(), strict_parsing=True)


async def test_201_is_sent_with_the_call_sid(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(CALLS_URL).respond(
        201, json={"sid": CALL_SID, "status": "queued", "to": "+819012345678"}
    )

    result = await provider.send(make_call_message())

    assert (result.outcome, result.provider_id, result.error) == (Outcome.sent, CALL_SID, None)
    assert route.call_count == 1


async def test_the_request_names_the_delivery_in_its_urls_and_carries_basic_auth(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(CALLS_URL).respond(201, json={"sid": CALL_SID})

    await provider.send(make_call_message())

    request = route.calls.last.request
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent_form(route) == {
        "To": ["+819012345678"],
        "From": [CALLER_ID],
        "Url": [f"{PUBLIC}/twilio/voice/callout?d={DELIVERY}"],
        "Method": ["POST"],
        "StatusCallback": [f"{PUBLIC}/twilio/voice/callout/status?d={DELIVERY}"],
        "StatusCallbackMethod": ["POST"],
        "StatusCallbackEvent": ["completed"],
        "Timeout": ["25"],
    }
    # The summary is fetched from Relay when the call is answered, never sent to Twilio.
    assert "佐藤" not in request.content.decode()


async def test_without_a_status_callback_the_delivery_s_own_is_made(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(CALLS_URL).respond(201, json={"sid": CALL_SID})

    await provider.send(make_call_message(status_callback=None))

    assert sent_form(route)["StatusCallback"] == [
        f"{PUBLIC}/twilio/voice/callout/status?d={DELIVERY}"
    ]


def test_a_provider_needs_a_caller_id() -> None:
    rest = TwilioRest(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    with pytest.raises(ValueError, match="caller ID"):
        TwilioVoiceProvider(rest=rest, caller_id="", public_base_url=PUBLIC)


async def test_http_429_is_retryable_after_the_retry_after_seconds(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CALLS_URL).respond(
        429, json=twilio_error(20429, "Too Many Requests", 429), headers={"Retry-After": "12"}
    )

    result = await provider.send(make_call_message())

    assert (result.outcome, result.retry_after, result.error_code) == (
        Outcome.retryable,
        12.0,
        "20429",
    )


async def test_twilio_code_20429_is_retryable_whatever_the_http_status(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CALLS_URL).respond(400, json=twilio_error(20429, "Too many", 400))

    result = await provider.send(make_call_message())

    assert (result.outcome, result.error_code) == (Outcome.retryable, "20429")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "Invalid 'To' Phone Number"),
        (13224, "Dial: Invalid phone number"),
        (21215, "Geo Permission configuration is not permitting call"),
        (21210, "'From' phone number not verified"),
    ],
)
async def test_twilio_refusals_are_permanent_with_the_code_and_message(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, code: int, message: str
) -> None:
    respx_mock.post(CALLS_URL).respond(400, json=twilio_error(code, message, 400))

    result = await provider.send(make_call_message())

    assert (result.outcome, result.error_code, result.error) == (
        Outcome.permanent,
        str(code),
        message,
    )


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_other_4xx_are_permanent(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.post(CALLS_URL).respond(status, json=twilio_error(20003, "Authenticate", status))

    result = await provider.send(make_call_message())

    assert (result.outcome, result.error_code) == (Outcome.permanent, "20003")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_unknown_because_the_call_may_have_been_placed(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.post(CALLS_URL).respond(status, json=twilio_error(20500, "Internal", status))

    result = await provider.send(make_call_message())

    assert (result.outcome, result.error_code) == (Outcome.unknown, "20500")


async def test_201_without_a_call_sid_is_unknown(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CALLS_URL).respond(201, text="<html>ok</html>")

    result = await provider.send(make_call_message())

    assert result.outcome == Outcome.unknown
    assert result.error is not None and "call SID" in result.error


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
async def test_no_answer_after_connecting_is_unknown(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, error: Exception
) -> None:
    respx_mock.post(CALLS_URL).mock(side_effect=error)

    result = await provider.send(make_call_message())

    assert result.outcome == Outcome.unknown
    assert result.error is not None and type(error).__name__ in result.error


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("[Errno 111] Connection refused"), httpx.ConnectTimeout("timed out")],
)
async def test_failing_to_connect_is_retryable(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, error: Exception
) -> None:
    respx_mock.post(CALLS_URL).mock(side_effect=error)

    result = await provider.send(make_call_message())

    assert (result.outcome, result.retry_after) == (Outcome.retryable, None)


# --- lookup: finding the call of an attempt whose outcome was unknown ------------------------


def listed_call(
    sid: str, *, created: str, status: str = "in-progress", **extra: Any
) -> dict[str, Any]:
    return {
        "sid": sid,
        "to": "+819012345678",
        "from": CALLER_ID,
        "direction": "outbound-api",
        "status": status,
        "date_created": created,
        **extra,
    }


def listed(*calls: dict[str, Any], next_page_uri: str | None = None) -> dict[str, object]:
    return {"calls": list(calls), "page": 0, "page_size": 20, "next_page_uri": next_page_uri}


async def test_lookup_finds_the_one_call_created_since_the_attempt(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    attempt = clock.now()
    clock.advance(timedelta(minutes=3))
    earlier = format_datetime(attempt - timedelta(minutes=20))
    ours = format_datetime(attempt + timedelta(seconds=1))
    route = respx_mock.get(CALLS_URL).respond(
        200,
        json=listed(
            listed_call(CALL_SID, created=ours, status="no-answer"),
            listed_call("CA" + "b" * 32, created=earlier, status="completed"),
            listed_call("CA" + "c" * 32, created=ours, direction="inbound"),
        ),
    )

    found = await provider.lookup(make_call_message(attempted_at=attempt))

    # A call nobody took reads as a failed delivery, so the fallback channel takes over.
    assert (found.state, found.provider_id, found.status) == (Found.found, CALL_SID, "failed")
    params = route.calls.last.request.url.params
    assert (params["To"], params["From"], params["PageSize"]) == (
        "+819012345678",
        CALLER_ID,
        "20",
    )
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")


async def test_the_attempt_time_comes_with_the_message_so_any_process_can_look_it_up(
    respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    attempt = clock.now()
    respx_mock.post(CALLS_URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    placing = make_provider()
    assert (await placing.send(make_call_message(attempted_at=attempt))).outcome == Outcome.unknown
    await placing.aclose()
    respx_mock.get(CALLS_URL).respond(
        200, json=listed(listed_call(CALL_SID, created=format_datetime(attempt)))
    )

    # Another process (a restarted dispatcher) knows nothing of the attempt but the message.
    asking = make_provider()
    found = await asking.lookup(make_call_message(attempted_at=attempt))
    await asking.aclose()

    assert (found.state, found.provider_id) == (Found.found, CALL_SID)


async def test_lookup_without_a_call_since_the_attempt_is_absent(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    old = format_datetime(clock.now() - timedelta(minutes=30))
    respx_mock.get(CALLS_URL).respond(200, json=listed(listed_call(CALL_SID, created=old)))

    found = await provider.lookup(make_call_message(attempted_at=clock.now()))

    assert (found.state, found.provider_id) == (Found.absent, None)


async def test_lookup_reads_on_to_the_next_page_while_calls_are_newer_than_the_attempt(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    attempt = clock.now()
    newer = format_datetime(attempt + timedelta(seconds=30))
    next_uri = (
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json?To=%2B819012345678&Page=1&PageToken=PA1"
    )
    respx_mock.get(CALLS_URL, params={"PageToken": "PA1"}).respond(
        200, json=listed(listed_call(CALL_SID, created=format_datetime(attempt)))
    )
    respx_mock.get(CALLS_URL).respond(
        200,
        json=listed(
            listed_call("CA" + "e" * 32, created=newer, direction="inbound"),
            next_page_uri=next_uri,
        ),
    )

    found = await provider.lookup(make_call_message(attempted_at=attempt))

    assert (found.state, found.provider_id) == (Found.found, CALL_SID)


async def test_two_calls_since_the_attempt_cannot_be_told_apart(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    now = format_datetime(clock.now())
    respx_mock.get(CALLS_URL).respond(
        200,
        json=listed(listed_call(CALL_SID, created=now), listed_call("CA" + "b" * 32, created=now)),
    )

    found = await provider.lookup(make_call_message(attempted_at=clock.now()))

    assert found.state == Found.unclear
    assert found.detail is not None and "2 calls" in found.detail


async def test_lookup_without_the_attempt_time_cannot_tell_and_asks_nothing(
    provider: TwilioVoiceProvider, respx_mock: respx.MockRouter, clock: ManualClock
) -> None:
    route = respx_mock.get(CALLS_URL).respond(
        200, json=listed(listed_call(CALL_SID, created=format_datetime(clock.now())))
    )

    found = await provider.lookup(make_call_message(attempted_at=None))

    assert found.state == Found.unclear
    assert route.call_count == 0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json=twilio_error(20500, "Internal", 500)),
        httpx.Response(429, json=twilio_error(20429, "Too Many Requests", 429)),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"unexpected": True}),
        httpx.Response(401, json=twilio_error(20003, "Authenticate", 401)),
    ],
)
async def test_a_lookup_twilio_does_not_answer_is_unreachable(
    provider: TwilioVoiceProvider,
    respx_mock: respx.MockRouter,
    clock: ManualClock,
    answer: httpx.Response,
) -> None:
    respx_mock.get(CALLS_URL).mock(return_value=answer)

    found = await provider.lookup(make_call_message(attempted_at=clock.now()))

    assert found.state == Found.unreachable
    assert found.detail is not None and str(answer.status_code) in found.detail


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_lookup_after_a_network_error_is_unreachable(
    provider: TwilioVoiceProvider,
    respx_mock: respx.MockRouter,
    clock: ManualClock,
    error: httpx.HTTPError,
) -> None:
    respx_mock.get(CALLS_URL).mock(side_effect=error)

    found = await provider.lookup(make_call_message(attempted_at=clock.now()))

    assert found.state == Found.unreachable
    assert found.detail is not None and "could not reach Twilio" in found.detail
