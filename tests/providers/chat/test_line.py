"""LINE provider: our pushes against the Messaging API's documented format and its answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from service.channels import Channel
from service.clock import ManualClock
from service.messages.chat import ChatCard
from service.providers.base import Found, Outcome, OutgoingMessage
from service.providers.chat import CHAT_PREVIEWS, CHAT_PROVIDERS
from service.providers.chat.line import LineProvider, line_preview, retry_key
from service.settings import Settings
from tests.chat import destination
from tests.providers.chat.support import DELIVERY_ID, DictSecrets, make_chat_message
from tests.providers.chat.support import make_line_card as make_card

API = "https://line.test"
PUSH_URL = f"{API}/v2/bot/message/push"
TOKEN = "channel-access-token-1"
ACK_TOKEN = "ack-token.signed"
TO = destination("line")["to"]


def make_message(
    *, delivery_id: str = DELIVERY_ID, card: ChatCard | None = None, **message: Any
) -> OutgoingMessage:
    options = {k: v for k, v in destination("line").items() if k not in ("key", "to")}
    return make_chat_message(
        channel=Channel.line,
        to=TO,
        options=options,
        card=card or make_card(),
        delivery_id=delivery_id,
        **message,
    )


def line_error(message: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, **extra}


@pytest.fixture
def line() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets({"sakura-line-token": TOKEN, "sakura-line-channel": "channel-secret"})


@pytest.fixture
async def provider(secrets: DictSecrets) -> AsyncIterator[LineProvider]:
    made = LineProvider(api_base=API, secrets=secrets)
    yield made
    await made.aclose()


def _accepted(message_id: str = "461230966842064897") -> httpx.Response:
    return httpx.Response(200, json={"sentMessages": [{"id": message_id, "quoteToken": "q"}]})


async def test_a_card_is_pushed_as_a_flex_message_with_a_postback_and_a_link(
    provider: LineProvider, line: respx.MockRouter
) -> None:
    push = line.post(PUSH_URL).mock(return_value=_accepted())

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent
    assert result.provider_id == "461230966842064897"
    request = push.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    key = request.headers["x-line-retry-key"]
    assert str(uuid.UUID(key)) == key  # a hexadecimal UUID, as LINE asks
    body = json.loads(request.content)
    assert body["to"] == TO
    assert len(body["messages"]) == 1
    flex = body["messages"][0]
    assert flex["type"] == "flex"
    assert flex["altText"] == "さくら歯科: 予約時間の行き違い"
    bubble = flex["contents"]
    assert bubble["type"] == "bubble"
    words = json.dumps(bubble, ensure_ascii=False)
    for text in ("予約時間の行き違い", "受付", "山田 太郎", "本日15時の予約", "確認コード: 4821"):
        assert text in words
    buttons = bubble["footer"]["contents"]
    assert [b["type"] for b in buttons] == ["button", "button"]
    assert buttons[0]["action"] == {
        "type": "postback",
        "label": "確認しました",
        "data": ACK_TOKEN,
        "displayText": "確認しました",
    }
    assert buttons[1]["action"] == {
        "type": "uri",
        "label": "メモを開く",
        "uri": "https://relay.example.jp/a/ack-token.signed",
    }
    # No credential and no secret name rides in the body.
    assert TOKEN not in request.content.decode()
    assert "sakura-line" not in request.content.decode()


async def test_every_push_of_one_delivery_carries_the_same_retry_key_and_no_other_does(
    provider: LineProvider, line: respx.MockRouter
) -> None:
    push = line.post(PUSH_URL).mock(return_value=_accepted())

    await provider.send(make_message())
    await provider.send(make_message())
    await provider.send(make_message(delivery_id="e" * 32))

    keys = [call.request.headers["x-line-retry-key"] for call in push.calls]
    assert keys[0] == keys[1] == retry_key(DELIVERY_ID)
    assert keys[2] == retry_key("e" * 32) != keys[0]


async def test_an_urgent_card_has_a_red_title_and_an_acknowledged_one_no_buttons(
    provider: LineProvider, line: respx.MockRouter
) -> None:
    push = line.post(PUSH_URL).mock(return_value=_accepted())
    urgent = make_card(title="【至急】さくら歯科: 予約時間の行き違い", urgent=True)

    await provider.send(make_message(card=urgent))
    await provider.send(make_message(card=make_card().seen(by="佐藤", at="10:42")))

    first, second = (json.loads(call.request.content) for call in push.calls)
    title = first["messages"][0]["contents"]["header"]["contents"][0]
    assert title["text"] == "【至急】さくら歯科: 予約時間の行き違い"
    assert title["color"] == "#D32F2F"
    footer = second["messages"][0]["contents"]["footer"]["contents"]
    assert [item["type"] for item in footer] == ["text"]
    assert "佐藤" in footer[0]["text"] and "10:42" in footer[0]["text"]
    assert "postback" not in json.dumps(second)


async def test_long_titles_and_labels_are_cut_to_lines_limits(
    provider: LineProvider, line: respx.MockRouter
) -> None:
    push = line.post(PUSH_URL).mock(return_value=_accepted())
    card = make_card(title="長" * 2000, link_label="開" * 60, facts=[("受付", "")])

    await provider.send(make_message(card=card))

    flex = json.loads(push.calls.last.request.content)["messages"][0]
    assert len(flex["altText"]) == 1500 and flex["altText"].endswith("…")
    assert len(flex["contents"]["footer"]["contents"][1]["action"]["label"]) == 40
    fact = flex["contents"]["body"]["contents"][0]["contents"]
    assert fact[1]["text"] == "-"  # LINE refuses an empty text


async def test_409_for_the_retry_key_means_an_earlier_push_was_accepted(
    provider: LineProvider, line: respx.MockRouter
) -> None:
    line.post(PUSH_URL).respond(
        409,
        json=line_error(
            "The retry key is already accepted",
            sentMessages=[{"id": "461230966842064897", "quoteToken": "q"}],
        ),
        headers={"x-line-accepted-request-id": "f70dd685-499a-4231-a441-f24b8d4fba21"},
    )

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent
    assert result.provider_id == "461230966842064897"


async def test_a_200_without_message_ids_is_still_sent(
    provider: LineProvider, line: respx.MockRouter
) -> None:
    line.post(PUSH_URL).respond(200, json={})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent
    assert result.provider_id is None


async def test_429_is_retryable_after_the_time_line_asks(
    provider: LineProvider, line: respx.MockRouter, clock: ManualClock
) -> None:
    line.post(PUSH_URL).mock(
        side_effect=[
            httpx.Response(
                429, json=line_error("The API rate limit has been exceeded. Try again later.")
            ),
            httpx.Response(
                429, json=line_error("Too many requests"), headers={"Retry-After": "30"}
            ),
            httpx.Response(
                429,
                json=line_error("You have reached your monthly limit."),
                headers={"Retry-After": format_datetime(clock.now() + timedelta(minutes=2))},
            ),
        ]
    )

    bare, seconds, date = [await provider.send(make_message()) for _ in range(3)]

    assert bare.outcome == Outcome.retryable and bare.retry_after is None
    assert "rate limit" in (bare.error or "")
    assert bare.error_code == "429"
    assert seconds.outcome == Outcome.retryable and seconds.retry_after == 30
    assert date.outcome == Outcome.retryable and date.retry_after == 120
    assert "monthly limit" in (date.error or "")


@pytest.mark.parametrize(
    ("status", "answer", "words"),
    [
        (
            400,
            line_error(
                "The request body has 1 error(s)",
                details=[{"message": "Length must be between 0 and 300", "property": "data"}],
            ),
            "data: Length must be between 0 and 300",
        ),
        (
            401,
            line_error(
                "Authentication failed. Confirm that the access token in the authorization header is valid."
            ),
            "Authentication failed",
        ),
        (403, line_error("Access to this API is not available for your account"), "not available"),
        (404, line_error("Not found"), "Not found"),
    ],
)
async def test_a_refused_push_is_permanent_with_lines_reason(
    provider: LineProvider,
    line: respx.MockRouter,
    status: int,
    answer: dict[str, Any],
    words: str,
) -> None:
    line.post(PUSH_URL).respond(status, json=answer)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent
    assert result.error_code == str(status)
    assert f"HTTP {status}" in (result.error or "") and words in (result.error or "")
    assert TOKEN not in (result.error or "")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_is_unknown_as_line_may_have_accepted_the_push(
    provider: LineProvider, line: respx.MockRouter, status: int
) -> None:
    line.post(PUSH_URL).respond(status, text="<html>error</html>")

    result = await provider.send(make_message())

    assert result.outcome == Outcome.unknown
    assert result.error_code == str(status)


async def test_a_timeout_after_the_request_left_is_unknown_one_before_is_retryable(
    provider: LineProvider, line: respx.MockRouter
) -> None:
    line.post(PUSH_URL).mock(
        side_effect=[
            httpx.ReadTimeout("read timed out"),
            httpx.RemoteProtocolError("server disconnected"),
            httpx.ConnectTimeout("connect timed out"),
            httpx.ConnectError("connection refused"),
        ]
    )

    outcomes = [(await provider.send(make_message())).outcome for _ in range(4)]

    assert outcomes == [Outcome.unknown, Outcome.unknown, Outcome.retryable, Outcome.retryable]


async def test_a_token_not_set_fails_for_good_without_a_request(
    line: respx.MockRouter,
) -> None:
    push = line.post(PUSH_URL).mock(return_value=_accepted())
    provider = LineProvider(api_base=API, secrets=DictSecrets({}))

    result = await provider.send(make_message())
    await provider.aclose()

    assert result.outcome == Outcome.permanent
    assert result.error == "secret 'sakura-line-token' is not set"
    assert not push.called


async def test_a_rotated_token_is_used_from_the_next_push(
    provider: LineProvider, secrets: DictSecrets, line: respx.MockRouter
) -> None:
    push = line.post(PUSH_URL).mock(return_value=_accepted())

    await provider.send(make_message())
    secrets.values["sakura-line-token"] = "channel-access-token-2\n"
    await provider.send(make_message())

    tokens = [call.request.headers["authorization"] for call in push.calls]
    assert tokens == [f"Bearer {TOKEN}", "Bearer channel-access-token-2"]


async def test_a_lookup_lets_the_push_be_repeated_only_while_the_retry_key_holds(
    provider: LineProvider, line: respx.MockRouter, clock: ManualClock
) -> None:
    attempted = clock.now()

    soon = await provider.lookup(make_message(attempted_at=attempted))
    clock.advance(timedelta(hours=19, minutes=59))
    later = await provider.lookup(make_message(attempted_at=attempted))
    clock.advance(timedelta(minutes=2))
    too_late = await provider.lookup(make_message(attempted_at=attempted))
    never_known = await provider.lookup(make_message())

    assert soon.state == Found.absent and later.state == Found.absent
    assert too_late.state == Found.unclear and "retry key" in (too_late.detail or "")
    assert never_known.state == Found.unclear
    assert not line.calls  # LINE is not asked: it keeps no list to ask


def test_the_preview_is_the_push_body_and_line_is_registered(settings: Settings) -> None:
    message = make_message()

    preview = CHAT_PREVIEWS[Channel.line](message)

    assert CHAT_PREVIEWS[Channel.line] is line_preview
    assert preview["to"] == TO
    assert preview["messages"][0]["contents"]["footer"]["contents"][0]["action"]["data"] == (
        ACK_TOKEN
    )
    assert TOKEN not in json.dumps(preview)
    made = CHAT_PROVIDERS[Channel.line](
        settings=settings.model_copy(update={"line_api_base": API + "/"}),
        secrets=DictSecrets({}),
        http_client=None,
    )
    assert isinstance(made, LineProvider) and made.api_base == API
