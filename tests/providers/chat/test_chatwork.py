"""The Chatwork provider against a stand-in API (respx): Chatwork's request format and answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from service.channels import Channel
from service.clock import ManualClock
from service.i18n import translate
from service.messages.chat import ChatCard
from service.providers.base import Found, Outcome, OutgoingMessage
from service.providers.chat import CHAT_PREVIEWS, CHAT_PROVIDERS
from service.providers.chat.chatwork import REPLY_HINT, ChatworkProvider, marker_of
from service.settings import Settings
from tests.providers.chat.support import DELIVERY_ID, DictSecrets, make_chat_message
from tests.providers.chat.support import make_card as chat_card

API_BASE = "https://chatwork.test/v2"
ROOM = "123456789"
POST_URL = f"{API_BASE}/rooms/{ROOM}/messages"
MESSAGE_ID = "1928374655918273645"
EDIT_URL = f"{POST_URL}/{MESSAGE_ID}"
TOKEN = "0123456789abcdef0123456789abcdef"
START = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def make_card(**overrides: Any) -> ChatCard:
    """An urgent memo's card that mentions two members of the room."""
    fields: dict[str, Any] = {
        "title": "【至急】さくら歯科: 予約時間の行き違い",
        "urgent": True,
        "ack_value": "eyJtIjoiMTIzIn0.c2lnbmVk",
        "mentions": ["1234567", "7654321"],
    }
    fields.update(overrides)
    return chat_card(**fields)


def make_message(
    *,
    card: ChatCard | None = None,
    replaces: str | None = None,
    secret: str = "sakura-chatwork",
    **overrides: Any,
) -> OutgoingMessage:
    return make_chat_message(
        channel=Channel.chatwork,
        to=ROOM,
        options={"kind": "chatwork", "room_id": ROOM, "secret": secret},
        card=card or make_card(),
        replaces=replaces,
        **{"attempted_at": START} | overrides,
    )


def form_of(route: respx.Route, call: int = -1) -> dict[str, str]:
    request = route.calls[call].request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def listed(*bodies: str, first_id: int = 1000, send_time: float | None = None) -> list[Any]:
    """A room's messages as `GET /rooms/{id}/messages` lists them, oldest first."""
    moment = int(send_time if send_time is not None else START.timestamp())
    return [
        {
            "message_id": str(first_id + n),
            "account": {"account_id": 42, "name": "受付代行", "avatar_image_url": ""},
            "body": body,
            "send_time": moment,
            "update_time": 0,
        }
        for n, body in enumerate(bodies)
    ]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """Chatwork's API as a stand-in: every request must match a route."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets({"sakura-chatwork": TOKEN})


@pytest.fixture
async def provider(secrets: DictSecrets, clock: ManualClock) -> AsyncIterator[ChatworkProvider]:
    clock.set(START)
    chatwork = ChatworkProvider(api_base=API_BASE, secrets=secrets)
    yield chatwork
    await chatwork.aclose()


async def test_a_memo_is_posted_to_the_room_as_an_info_block_with_mentions_code_and_link(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    route = api.post(POST_URL).respond(200, json={"message_id": MESSAGE_ID})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent and result.provider_id == MESSAGE_ID
    assert route.calls.last.request.headers["x-chatworktoken"] == TOKEN
    form = form_of(route)
    assert form["self_unread"] == "0"
    assert form["body"] == (
        "[To:1234567][To:7654321]\n"
        "[info][title]【至急】さくら歯科: 予約時間の行き違い[/title]"
        "受付: 12/01 14:05\nお名前: 山田 太郎\n区分: 苦情"
        "[hr]本日15時の予約が入っていなかった。至急折り返しを希望。"
        f"[hr]確認コード: 4821\n{translate('ja', REPLY_HINT)}\n"
        "メモを開く: http://testserver/a/tok123[/info]\n"
        f"{marker_of(DELIVERY_ID)}"
    )


async def test_a_callers_words_cannot_close_the_block_or_mention_the_whole_room(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    route = api.post(POST_URL).respond(200, json={"message_id": MESSAGE_ID})
    card = make_card(summary="[toall] [/info][To:999] お願いします", mentions=[])

    await provider.send(make_message(card=card))

    body = form_of(route)["body"]
    assert "[toall]" not in body and "[To:999]" not in body
    assert "［toall］ ［/info］［To:999］ お願いします" in body
    assert body.count("[/info]") == 1 and not body.startswith("[To:")


async def test_an_english_card_says_how_to_acknowledge_in_english(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    route = api.post(POST_URL).respond(200, json={"message_id": MESSAGE_ID})
    card = make_card(locale="en", code_label="Code", link_label="Open the memo")

    await provider.send(make_message(card=card))

    body = form_of(route)["body"]
    assert "Code: 4821\nReply in this room with the code to acknowledge." in body
    assert "確認済み" not in body


async def test_an_acknowledgement_edits_the_posted_message_in_place(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    route = api.put(EDIT_URL).respond(200, json={"message_id": MESSAGE_ID})
    card = make_card().seen(by="佐藤", at="10:42")

    result = await provider.send(make_message(card=card, replaces=MESSAGE_ID))

    assert result.outcome == Outcome.sent and result.provider_id == MESSAGE_ID
    form = form_of(route)
    assert set(form) == {"body"}
    assert "確認済み 佐藤 10:42" in form["body"]
    assert "4821" not in form["body"] and "返信" not in form["body"]
    assert "メモを開く: http://testserver/a/tok123" in form["body"]


async def test_an_edit_answered_without_an_id_keeps_the_message_it_edited(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    api.put(EDIT_URL).respond(200, json={})

    result = await provider.send(make_message(replaces=MESSAGE_ID))

    assert result.outcome == Outcome.sent and result.provider_id == MESSAGE_ID


@pytest.mark.parametrize(
    ("status", "answer", "outcome"),
    [
        (400, {"errors": ["Parameter 'body' is required"]}, Outcome.permanent),
        (401, {"errors": ["Invalid API token"]}, Outcome.permanent),
        (
            403,
            {"errors": ["You don't have permission to send messages in this room"]},
            Outcome.permanent,
        ),
        (404, {"errors": ["Resource not found"]}, Outcome.permanent),
        (500, {"errors": ["Internal server error"]}, Outcome.unknown),
        (502, None, Outcome.unknown),
        (503, None, Outcome.unknown),
    ],
)
async def test_chatworks_refusals_and_troubles_map_to_outcomes(
    api: respx.MockRouter,
    provider: ChatworkProvider,
    status: int,
    answer: dict[str, Any] | None,
    outcome: Outcome,
) -> None:
    if answer is None:
        api.post(POST_URL).respond(status, text="Bad Gateway")
    else:
        api.post(POST_URL).respond(status, json=answer)

    result = await provider.send(make_message())

    assert result.outcome == outcome
    assert result.error_code == str(status)
    assert result.provider_id is None
    if answer is not None:
        assert result.error == "Chatwork: " + answer["errors"][0]
    else:
        assert result.error == f"Chatwork answered HTTP {status}"


async def test_a_post_answered_without_a_message_id_is_left_for_the_look_up(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    api.post(POST_URL).respond(200, json={"unexpected": True})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.unknown


async def test_a_429_is_retried_after_what_chatwork_asks(
    api: respx.MockRouter, provider: ChatworkProvider
) -> None:
    api.post(POST_URL).respond(
        429,
        json={"errors": ["Too Many Requests"]},
        headers={"Retry-After": "42"},
    )

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable
    assert result.error_code == "429" and result.retry_after == 42


async def test_a_429_without_retry_after_waits_for_the_allowances_reset(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    reset = START + timedelta(seconds=95)
    api.post(POST_URL).respond(
        429,
        json={"errors": ["Too Many Requests"]},
        headers={
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(reset.timestamp())),
        },
    )

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable and result.retry_after == 95


async def test_a_token_with_nothing_left_waits_for_its_reset_without_asking(
    api: respx.MockRouter, provider: ChatworkProvider, clock: ManualClock
) -> None:
    reset = START + timedelta(seconds=120)
    route = api.post(POST_URL).respond(
        200,
        json={"message_id": MESSAGE_ID},
        headers={
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(reset.timestamp())),
        },
    )
    assert (await provider.send(make_message())).outcome == Outcome.sent

    clock.advance(timedelta(seconds=20))
    held = await provider.send(make_message(delivery_id="e" * 32))

    assert held.outcome == Outcome.retryable and held.retry_after == 100
    assert route.call_count == 1
    clock.advance(timedelta(seconds=101))
    assert (await provider.send(make_message(delivery_id="e" * 32))).outcome == Outcome.sent
    assert route.call_count == 2


async def test_the_allowance_is_kept_per_token(
    api: respx.MockRouter, provider: ChatworkProvider, secrets: DictSecrets
) -> None:
    secrets.values["other-chatwork"] = "another-token"
    reset = START + timedelta(minutes=3)
    used_up = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset.timestamp()))}
    api.post(POST_URL).mock(
        side_effect=lambda request: httpx.Response(
            200,
            json={"message_id": MESSAGE_ID},
            headers=used_up if request.headers["x-chatworktoken"] == TOKEN else {},
        )
    )
    await provider.send(make_message())

    other = await provider.send(make_message(secret="other-chatwork"))

    assert other.outcome == Outcome.sent


async def test_rate_limit_headers_that_are_no_numbers_are_ignored(
    api: respx.MockRouter, provider: ChatworkProvider
) -> None:
    garbled = {"x-ratelimit-remaining": "nan", "x-ratelimit-reset": "inf"}
    route = api.post(POST_URL).respond(200, json={"message_id": MESSAGE_ID}, headers=garbled)

    assert (await provider.send(make_message())).outcome == Outcome.sent
    assert (await provider.send(make_message())).outcome == Outcome.sent
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (httpx.ConnectError("refused"), Outcome.retryable),
        (httpx.ConnectTimeout("no connection"), Outcome.retryable),
        (httpx.ReadTimeout("no answer"), Outcome.unknown),
        (httpx.RemoteProtocolError("dropped"), Outcome.unknown),
    ],
)
async def test_network_failures_are_retried_only_when_nothing_can_have_gone_out(
    api: respx.MockRouter, provider: ChatworkProvider, error: httpx.HTTPError, outcome: Outcome
) -> None:
    api.post(POST_URL).mock(side_effect=error)

    result = await provider.send(make_message())

    assert result.outcome == outcome
    assert result.error is not None and "Chatwork" in result.error


async def test_an_unset_token_fails_for_good_without_asking_and_a_new_one_is_used_at_once(
    api: respx.MockRouter, provider: ChatworkProvider, secrets: DictSecrets
) -> None:
    route = api.post(POST_URL).respond(200, json={"message_id": MESSAGE_ID})
    secrets.values.clear()

    missing = await provider.send(make_message())

    assert missing.outcome == Outcome.permanent
    assert missing.error == "secret 'sakura-chatwork' is not set"
    assert route.call_count == 0
    secrets.values["sakura-chatwork"] = "rotated-token"
    assert (await provider.send(make_message())).outcome == Outcome.sent
    assert route.calls.last.request.headers["x-chatworktoken"] == "rotated-token"


async def test_a_look_up_finds_the_message_by_its_marker(
    api: respx.MockRouter, provider: ChatworkProvider
) -> None:
    route = api.get(POST_URL).respond(
        200,
        json=listed("おはようございます", f"[info]…[/info]\n{marker_of(DELIVERY_ID)}", "了解"),
    )

    found = await provider.lookup(make_message())

    assert found.state == Found.found and found.provider_id == "1001"
    request = route.calls.last.request
    assert request.url.params["force"] == "1"
    assert request.headers["x-chatworktoken"] == TOKEN


async def test_a_look_up_says_absent_when_the_room_has_no_such_message(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    api.get(POST_URL).respond(200, json=listed("おはようございます", marker_of("e" * 32)))

    assert (await provider.lookup(make_message())).state == Found.absent


async def test_a_look_up_in_an_empty_room_says_absent(
    api: respx.MockRouter, provider: ChatworkProvider
) -> None:
    api.get(POST_URL).respond(204)

    assert (await provider.lookup(make_message())).state == Found.absent


async def test_a_look_up_cannot_tell_when_the_room_moved_on_past_what_is_listed(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    later = (START + timedelta(minutes=2)).timestamp()
    api.get(POST_URL).respond(200, json=listed(*["雑談"] * 100, send_time=later))

    found = await provider.lookup(make_message())

    assert found.state == Found.unclear


async def test_a_full_list_reaching_back_before_the_attempt_says_absent(
    api: respx.MockRouter,
    provider: ChatworkProvider,
) -> None:
    earlier = (START - timedelta(hours=1)).timestamp()
    api.get(POST_URL).respond(200, json=listed(*["雑談"] * 100, send_time=earlier))

    assert (await provider.lookup(make_message())).state == Found.absent


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"errors": ["Invalid API token"]}),
        httpx.Response(429, json={"errors": ["Too Many Requests"]}),
        httpx.Response(500, text="oops"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"not": "a list"}),
    ],
)
async def test_a_look_up_that_chatwork_does_not_answer_is_asked_again(
    api: respx.MockRouter, provider: ChatworkProvider, answer: httpx.Response
) -> None:
    api.get(POST_URL).mock(return_value=answer)

    found = await provider.lookup(make_message())

    assert found.state == Found.unreachable and found.detail


async def test_a_look_up_over_a_broken_network_is_asked_again(
    api: respx.MockRouter, provider: ChatworkProvider
) -> None:
    api.get(POST_URL).mock(side_effect=httpx.ReadTimeout("no answer"))

    found = await provider.lookup(make_message())

    assert found.state == Found.unreachable and "ReadTimeout" in (found.detail or "")


async def test_an_edits_look_up_reads_the_message_it_edits(
    api: respx.MockRouter, provider: ChatworkProvider
) -> None:
    edited = listed(f"確認済み\n{marker_of(DELIVERY_ID)}", first_id=int(MESSAGE_ID))[0]
    route = api.get(EDIT_URL).respond(200, json=edited)

    found = await provider.lookup(make_message(replaces=MESSAGE_ID))

    assert found.state == Found.found and found.provider_id == MESSAGE_ID
    assert route.call_count == 1
    route.respond(200, json={**edited, "body": f"確認コード: 4821\n{marker_of('c' * 32)}"})
    assert (await provider.lookup(make_message(replaces=MESSAGE_ID))).state == Found.absent


async def test_a_look_up_without_a_token_is_asked_again_later(
    provider: ChatworkProvider, secrets: DictSecrets
) -> None:
    secrets.values.clear()

    found = await provider.lookup(make_message())

    assert found.state == Found.unreachable
    assert found.detail == "secret 'sakura-chatwork' is not set"


async def test_chatwork_is_registered_with_a_preview_that_carries_no_token(
    settings: Settings,
) -> None:
    live = settings.model_copy(update={"chat_delivery": "live", "chatwork_api_base": API_BASE})
    provider = CHAT_PROVIDERS[Channel.chatwork](
        settings=live, secrets=DictSecrets({}), http_client=None
    )
    assert isinstance(provider, ChatworkProvider) and provider.api_base == API_BASE
    await provider.aclose()

    preview = CHAT_PREVIEWS[Channel.chatwork](make_message())
    assert preview["method"] == "POST" and preview["path"] == f"/rooms/{ROOM}/messages"
    assert "[info][title]" in preview["form"]["body"] and TOKEN not in str(preview)
    edit = CHAT_PREVIEWS[Channel.chatwork](make_message(replaces=MESSAGE_ID))
    assert edit["method"] == "PUT" and edit["path"] == f"/rooms/{ROOM}/messages/{MESSAGE_ID}"
