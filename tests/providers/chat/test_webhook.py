"""The signed-webhook provider against a receiver answered by respx: Standard Webhooks' format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError
from sqlalchemy import Engine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from service.channels import Channel
from service.clock import ManualClock
from service.companies.destinations import WebhookDestination
from service.messages.chat import ChatCard
from service.providers.base import ChatEvent, Found, Outcome, OutgoingMessage
from service.providers.chat import CHAT_PREVIEWS
from service.providers.chat.webhook import FAILED_KEY, WebhookProvider
from service.settings import Settings
from tests.chat import destination
from tests.providers.chat.support import (
    DELIVERY_ID,
    DictSecrets,
    assert_chosen_when_chat_goes_live,
    make_chat_message,
)
from tests.providers.chat.support import make_card as chat_card

URL = "https://crm.example.jp/relay"
KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_KEY = "whsec_dGhlIG5ldyBrZXkgYWZ0ZXIgcm90YXRpb24="
MEMO = {
    "id": "m" * 32,
    "company": "sakura-dental",
    "subject": "予約時間の行き違い",
    "status": "sent",
    "ack_code": "4821",
}


def make_card() -> ChatCard:
    """A card with one fact and a one-sentence summary."""
    return chat_card(facts=[("受付", "12/01 14:05")], summary="本日15時の予約が入っていなかった。")


def make_message(
    *,
    to: str = URL,
    event: ChatEvent = ChatEvent.created,
    memo: dict[str, Any] | None = None,
    **overrides: Any,
) -> OutgoingMessage:
    return make_chat_message(
        channel=Channel.webhook,
        to=to,
        options={"kind": "webhook", "url": URL, "secret": "sakura-webhook", "key": "crm"},
        card=make_card(),
        event=event,
        memo=memo if memo is not None else MEMO,
        **overrides,
    )


@pytest.fixture
def receiver() -> Iterator[respx.MockRouter]:
    """The company's endpoint, as respx answers it; a request to anywhere else is an error."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def now(clock: ManualClock) -> datetime:
    """The clock at the wall's time: Standard Webhooks refuse a timestamp five minutes off."""
    moment = datetime.now(UTC).replace(microsecond=0)
    clock.set(moment)
    return moment


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets({"sakura-webhook": KEY})


@pytest.fixture
async def provider(secrets: DictSecrets) -> AsyncIterator[WebhookProvider]:
    webhook = WebhookProvider(secrets=secrets)
    yield webhook
    await webhook.aclose()


def received(route: respx.Route, call: int = -1) -> tuple[bytes, dict[str, str]]:
    request = route.calls[call].request
    return request.content, dict(request.headers)


async def test_an_event_is_posted_as_json_signed_as_standard_webhooks_sign_it(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime
) -> None:
    route = receiver.post(URL).respond(204)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent and result.provider_id == f"msg_{DELIVERY_ID}"
    body, headers = received(route)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == f"msg_{DELIVERY_ID}"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    # The receiver's own check, with the library it would use: the body as sent is genuine.
    event = Webhook(KEY).verify(body, headers)
    assert event == {
        "type": "memo.created",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {"memo": MEMO, "destination": "crm"},
    }
    assert "予約時間の行き違い" in body.decode("utf-8")  # UTF-8 as it is, not \u escapes


async def test_the_signature_does_not_verify_with_another_key_or_an_altered_body(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime
) -> None:
    route = receiver.post(URL).respond(200)
    await provider.send(make_message())
    body, headers = received(route)

    with pytest.raises(WebhookVerificationError):
        Webhook(NEW_KEY).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(KEY).verify(body.replace(b"4821", b"4822"), headers)


async def test_a_timestamp_from_ten_minutes_ago_is_refused_as_stale_by_the_receiver(
    receiver: respx.MockRouter, provider: WebhookProvider, clock: ManualClock, now: datetime
) -> None:
    route = receiver.post(URL).respond(200)
    clock.set(now - timedelta(minutes=10))  # the signing time is Relay's clock, not the wall's

    await provider.send(make_message())

    body, headers = received(route)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(KEY).verify(body, headers)


async def test_every_attempt_of_one_delivery_carries_the_same_webhook_id_signed_afresh(
    receiver: respx.MockRouter, provider: WebhookProvider, clock: ManualClock, now: datetime
) -> None:
    route = receiver.post(URL).mock(side_effect=[httpx.Response(503), httpx.Response(200)])

    first = await provider.send(make_message())
    clock.advance(timedelta(seconds=30))
    second = await provider.send(make_message())

    assert first.outcome == Outcome.unknown and second.outcome == Outcome.sent
    (body1, headers1), (body2, headers2) = received(route, 0), received(route, 1)
    assert headers1["webhook-id"] == headers2["webhook-id"] == f"msg_{DELIVERY_ID}"
    assert int(headers2["webhook-timestamp"]) == int(headers1["webhook-timestamp"]) + 30
    assert (
        Webhook(KEY).verify(body1, headers1)["data"] == Webhook(KEY).verify(body2, headers2)["data"]
    )


async def test_a_memo_failed_event_names_the_delivery_that_failed_beside_the_memo(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime
) -> None:
    route = receiver.post(URL).respond(200)
    failure = {"contact": "office", "channel": "email", "error": "RCPT TO: 550 no such user"}

    await provider.send(make_message(event=ChatEvent.failed, memo={**MEMO, FAILED_KEY: failure}))

    event = Webhook(KEY).verify(*received(route))
    assert event["type"] == "memo.failed"
    assert event["data"] == {"memo": MEMO, "destination": "crm", "failed": failure}


async def test_only_a_memo_failed_event_says_which_delivery_failed(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime
) -> None:
    route = receiver.post(URL).respond(200)
    failure = {"contact": "office", "channel": "email", "error": "refused"}

    await provider.send(
        make_message(event=ChatEvent.acknowledged, memo={**MEMO, FAILED_KEY: failure})
    )

    event = Webhook(KEY).verify(*received(route))
    assert event["data"] == {"memo": MEMO, "destination": "crm"}


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_any_2xx_is_sent(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime, status: int
) -> None:
    receiver.post(URL).respond(status)

    assert (await provider.send(make_message())).outcome == Outcome.sent


async def test_a_429_is_tried_again_after_the_retry_after_the_receiver_gives(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime
) -> None:
    receiver.post(URL).respond(429, headers={"Retry-After": "120"})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable
    assert result.retry_after == 120.0 and result.error_code == "429"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422, 301])
async def test_a_refusal_no_later_attempt_can_mend_fails_for_good(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime, status: int
) -> None:
    receiver.post(URL).respond(status)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent and result.error_code == str(status)
    assert result.error and str(status) in result.error


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_5xx_leaves_the_outcome_unknown(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime, status: int
) -> None:
    receiver.post(URL).respond(status)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.unknown and result.error_code == str(status)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (httpx.ConnectError("connection refused"), Outcome.retryable),
        (httpx.ConnectTimeout("connect timed out"), Outcome.retryable),
        (httpx.ReadTimeout("read timed out"), Outcome.unknown),
        (httpx.WriteTimeout("write timed out"), Outcome.unknown),
        (httpx.RemoteProtocolError("server disconnected"), Outcome.unknown),
    ],
)
async def test_no_connection_is_retryable_and_a_request_that_may_have_arrived_is_unknown(
    receiver: respx.MockRouter,
    provider: WebhookProvider,
    now: datetime,
    error: Exception,
    outcome: Outcome,
) -> None:
    receiver.post(URL).mock(side_effect=error)

    result = await provider.send(make_message())

    assert result.outcome == outcome
    assert result.error and type(error).__name__ in result.error


@pytest.mark.parametrize(
    "url", ["http://crm.example.jp/relay", "ftp://crm.example.jp/relay", "http://10.0.0.5/hook"]
)
async def test_a_url_that_is_not_https_is_refused_without_a_request(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime, url: str
) -> None:
    route = receiver.route().respond(200)

    result = await provider.send(make_message(to=url))

    assert result.outcome == Outcome.permanent and result.error_code == "url_refused"
    assert not route.called


@pytest.mark.parametrize("url", ["http://127.0.0.1:8123/hook", "http://localhost:9000/relay"])
async def test_plain_http_goes_only_to_this_machine(
    receiver: respx.MockRouter, provider: WebhookProvider, now: datetime, url: str
) -> None:
    route = receiver.post(url).respond(200)

    result = await provider.send(make_message(to=url))

    assert result.outcome == Outcome.sent and route.called


async def test_an_unset_key_fails_for_good_without_a_request(
    receiver: respx.MockRouter, secrets: DictSecrets, provider: WebhookProvider, now: datetime
) -> None:
    route = receiver.route().respond(200)
    secrets.values.clear()

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent and result.error_code == "secret_not_set"
    assert result.error and "secret 'sakura-webhook' is not set" in result.error
    assert not route.called


async def test_a_key_that_is_not_base64_fails_for_good_without_showing_it(
    receiver: respx.MockRouter, secrets: DictSecrets, provider: WebhookProvider, now: datetime
) -> None:
    route = receiver.route().respond(200)
    secrets.values["sakura-webhook"] = "whsec_not*base64!"

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent and result.error_code == "secret_invalid"
    assert result.error and "not*base64" not in result.error
    assert not route.called


async def test_a_rotated_key_signs_from_the_next_event_on(
    receiver: respx.MockRouter, secrets: DictSecrets, provider: WebhookProvider, now: datetime
) -> None:
    route = receiver.post(URL).respond(200)
    await provider.send(make_message())
    secrets.values["sakura-webhook"] = NEW_KEY

    await provider.send(make_message(delivery_id="e" * 32))

    Webhook(KEY).verify(*received(route, 0))
    Webhook(NEW_KEY).verify(*received(route, 1))
    with pytest.raises(WebhookVerificationError):
        Webhook(KEY).verify(*received(route, 1))


async def test_an_endpoint_cannot_be_asked_what_it_received(provider: WebhookProvider) -> None:
    found = await provider.lookup(make_message())

    assert found.state == Found.unclear


async def test_the_provider_is_registered_and_chosen_when_chat_goes_live(
    settings: Settings, engine: Engine
) -> None:
    await assert_chosen_when_chat_goes_live(
        settings=settings, engine=engine, channel=Channel.webhook, provider=WebhookProvider
    )


def test_the_preview_shows_the_request_without_its_signature_or_key(now: datetime) -> None:
    preview = CHAT_PREVIEWS[Channel.webhook](make_message())

    assert preview["url"] == URL
    assert preview["headers"]["webhook-id"] == f"msg_{DELIVERY_ID}"
    assert "webhook-signature" not in preview["headers"]
    assert preview["body"]["type"] == "memo.created"
    assert preview["body"]["data"] == {"memo": MEMO, "destination": "crm"}
    assert KEY not in json.dumps(preview)


def _destination_url(url: str) -> str:
    return WebhookDestination.model_validate(destination("webhook", url=url)).address


def test_a_destination_url_is_https_or_plain_http_on_this_machine() -> None:
    assert _destination_url("https://crm.example.jp/relay") == "https://crm.example.jp/relay"
    assert _destination_url("http://127.0.0.1:8123/hook") == "http://127.0.0.1:8123/hook"
    for refused in ("http://crm.example.jp/relay", "http://localhost.example.jp/", "ftp://x"):
        with pytest.raises(ValidationError):
            _destination_url(refused)
