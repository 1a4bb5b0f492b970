"""The Slack provider against a stand-in Web API (respx): Slack's request format and answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from service.channels import Channel
from service.messages.chat import ChatCard
from service.providers.base import (
    Found,
    Outcome,
    OutgoingMessage,
)
from service.providers.chat import CHAT_PREVIEWS, CHAT_PROVIDERS
from service.providers.chat.slack import ACK_ACTION_ID, METADATA_EVENT, SlackProvider
from service.settings import Settings
from tests.providers.chat.support import DELIVERY_ID, DictSecrets, make_chat_message
from tests.providers.chat.support import make_card as chat_card

API_BASE = "https://slack.test/api"
POST_URL = f"{API_BASE}/chat.postMessage"
UPDATE_URL = f"{API_BASE}/chat.update"
HISTORY_URL = f"{API_BASE}/conversations.history"
BOT_TOKEN = "xoxb-1111-2222-abcdefABCDEF"
CHANNEL = "C0123ABCD"
TS = "1764590400.000100"
ACK_TOKEN = "eyJtIjoiMTIzIn0.c2lnbmVk"


def make_card(**overrides: Any) -> ChatCard:
    """A card whose summary holds characters Slack's mrkdwn escapes."""
    fields: dict[str, Any] = {
        "summary": "本日15時の予約が入っていなかった。<至急> 折り返し & 確認を希望。",
        "ack_value": ACK_TOKEN,
    }
    fields.update(overrides)
    return chat_card(**fields)


def make_message(
    *,
    to: str = CHANNEL,
    card: ChatCard | None = None,
    replaces: str | None = None,
    **overrides: Any,
) -> OutgoingMessage:
    return make_chat_message(
        channel=Channel.slack,
        to=to,
        options={"channel": CHANNEL, "secret": "sakura-slack", "kind": "slack"},
        card=card or make_card(),
        replaces=replaces,
        **overrides,
    )


def posted(ts: str = TS, channel: str = CHANNEL) -> dict[str, Any]:
    return {"ok": True, "channel": channel, "ts": ts, "message": {"type": "message", "ts": ts}}


def slack_error(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


@pytest.fixture
def slack() -> Iterator[respx.MockRouter]:
    """Slack's Web API, as respx answers it; a request to anywhere else is an error."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets({"sakura-slack": BOT_TOKEN})


@pytest.fixture
async def provider(secrets: DictSecrets) -> AsyncIterator[SlackProvider]:
    slack = SlackProvider(api_base=API_BASE, secrets=secrets)
    yield slack
    await slack.aclose()


def body_of(route: respx.Route, call: int = -1) -> dict[str, Any]:
    request = route.calls[call].request
    data: dict[str, Any] = json.loads(request.content)
    return data


def block_types(body: dict[str, Any]) -> list[str]:
    return [block["type"] for block in body["blocks"]]


async def test_a_memo_is_posted_with_blocks_a_button_carrying_its_token_and_its_metadata(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    route = slack.post(POST_URL).respond(200, json=posted())

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent and result.provider_id == TS
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    body = body_of(route)
    assert body["channel"] == CHANNEL
    # The fallback text (notifications, screen readers) is the whole card, mrkdwn-escaped.
    assert "予約時間の行き違い" in body["text"] and "&lt;至急&gt;" in body["text"]
    assert body["metadata"] == {
        "event_type": METADATA_EVENT,
        "event_payload": {"delivery_id": DELIVERY_ID, "event": "memo.created"},
    }
    assert block_types(body) == ["header", "section", "section", "context", "actions"]
    assert body["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "さくら歯科: 予約時間の行き違い",
        "emoji": True,
    }
    fields = [field["text"] for field in body["blocks"][1]["fields"]]
    assert fields == ["*受付*\n12/01 14:05", "*お名前*\n山田 太郎", "*区分*\n苦情"]
    assert body["blocks"][2]["text"]["text"] == (
        "本日15時の予約が入っていなかった。&lt;至急&gt; 折り返し &amp; 確認を希望。"
    )
    assert "4821" in body["blocks"][3]["elements"][0]["text"]
    ack, link = body["blocks"][4]["elements"]
    assert ack == {
        "type": "button",
        "action_id": ACK_ACTION_ID,
        "style": "primary",
        "text": {"type": "plain_text", "text": "確認しました"},
        "value": ACK_TOKEN,
    }
    assert link["url"] == "http://testserver/a/tok123" and link["text"]["text"] == "メモを開く"
    assert "value" not in link


async def test_more_facts_than_a_section_holds_go_on_in_another_section(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    route = slack.post(POST_URL).respond(200, json=posted())
    facts = [(f"項目{n}", f"値{n}") for n in range(13)]

    await provider.send(make_message(card=make_card(facts=facts, summary="")))

    sections = [block for block in body_of(route)["blocks"] if block["type"] == "section"]
    assert [len(block["fields"]) for block in sections] == [10, 3]


async def test_an_acknowledgement_edits_the_message_in_place_without_its_buttons(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    route = slack.post(UPDATE_URL).respond(200, json=posted())
    card = make_card().seen(by="佐藤", at="10:42")

    result = await provider.send(make_message(card=card, replaces=TS))

    assert result.outcome == Outcome.sent and result.provider_id == TS
    body = body_of(route)
    assert body["channel"] == CHANNEL and body["ts"] == TS
    assert "actions" not in block_types(body)
    assert ACK_TOKEN not in json.dumps(body)
    shown = json.dumps(body["blocks"][-1], ensure_ascii=False)
    assert "佐藤" in shown and "10:42" in shown and "http://testserver/a/tok123" in shown
    assert body["metadata"]["event_payload"] == {
        "delivery_id": DELIVERY_ID,
        "event": "memo.acknowledged",
    }


async def test_a_message_to_a_user_is_edited_in_the_direct_message_slack_opened(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    slack.post(POST_URL).respond(200, json=posted(channel="D0AAAAAAA"))
    route = slack.post(UPDATE_URL).respond(200, json=posted(channel="D0AAAAAAA"))

    first = await provider.send(make_message(to="U0USER0001"))
    assert first.provider_id == f"D0AAAAAAA/{TS}"
    card = make_card().seen(by="佐藤", at="10:42")
    again = await provider.send(
        make_message(to="U0USER0001", card=card, replaces=first.provider_id)
    )

    assert body_of(route)["channel"] == "D0AAAAAAA" and body_of(route)["ts"] == TS
    assert again.provider_id == first.provider_id


@pytest.mark.parametrize("header", ["30", None])
async def test_a_429_is_tried_again_after_the_retry_after_slack_gives(
    slack: respx.MockRouter, provider: SlackProvider, header: str | None
) -> None:
    headers = {"Retry-After": header} if header else {}
    slack.post(POST_URL).respond(429, json=slack_error("ratelimited"), headers=headers)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable
    assert result.error_code == "ratelimited"
    assert result.retry_after == (30.0 if header else None)


async def test_ratelimited_in_a_200_answer_is_tried_again_too(
    slack: respx.MockRouter, provider: SlackProvider
) -> None:
    slack.post(POST_URL).respond(200, json=slack_error("ratelimited"), headers={"Retry-After": "5"})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable and result.retry_after == 5.0


@pytest.mark.parametrize(
    "error",
    [
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
    ],
)
async def test_errors_no_later_attempt_can_mend_fail_for_good_with_slacks_word(
    slack: respx.MockRouter, provider: SlackProvider, error: str
) -> None:
    slack.post(POST_URL).respond(200, json=slack_error(error))

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent
    assert result.error_code == error
    assert result.error is not None and error in result.error


async def test_a_401_fails_for_good(slack: respx.MockRouter, provider: SlackProvider) -> None:
    slack.post(POST_URL).respond(401, json=slack_error("invalid_auth"))

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent and result.error_code == "invalid_auth"


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [
        (500, {"ok": False, "error": "internal_error"}, "internal_error"),
        (502, None, "502"),
        (503, None, "503"),
        (200, {"ok": False, "error": "fatal_error"}, "fatal_error"),
        (200, {"ok": False, "error": "request_timeout"}, "request_timeout"),
    ],
)
async def test_slacks_own_trouble_leaves_the_outcome_unknown(
    slack: respx.MockRouter,
    provider: SlackProvider,
    status: int,
    answer: dict[str, Any] | None,
    code: str,
) -> None:
    if answer is None:
        slack.post(POST_URL).respond(status, text="<html>Bad Gateway</html>")
    else:
        slack.post(POST_URL).respond(status, json=answer)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.unknown and result.error_code == code


async def test_an_ok_answer_without_a_ts_leaves_the_outcome_unknown(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    slack.post(POST_URL).respond(200, json={"ok": True, "channel": CHANNEL})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.unknown


async def test_a_timeout_after_sending_is_unknown_and_no_connection_is_retryable(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    route = slack.post(POST_URL)
    route.side_effect = httpx.ReadTimeout("read timed out")
    assert (await provider.send(make_message())).outcome == Outcome.unknown
    route.side_effect = httpx.ConnectError("connection refused")
    assert (await provider.send(make_message())).outcome == Outcome.retryable
    route.side_effect = httpx.ConnectTimeout("connect timed out")
    assert (await provider.send(make_message())).outcome == Outcome.retryable


async def test_an_unset_bot_token_fails_for_good_without_asking_slack(
    slack: respx.MockRouter, secrets: DictSecrets, provider: SlackProvider
) -> None:
    route = slack.post(POST_URL).respond(200, json=posted())
    secrets.values.clear()

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent
    assert result.error_code == "secret_not_set"
    assert result.error is not None and "secret 'sakura-slack' is not set" in result.error
    assert not route.called


async def test_a_rotated_bot_token_is_used_from_the_next_message_on(
    slack: respx.MockRouter, secrets: DictSecrets, provider: SlackProvider
) -> None:
    route = slack.post(POST_URL).respond(200, json=posted())
    await provider.send(make_message())
    secrets.values["sakura-slack"] = "xoxb-rotated"

    await provider.send(make_message())

    tokens = [call.request.headers["authorization"] for call in route.calls]
    assert tokens == [f"Bearer {BOT_TOKEN}", "Bearer xoxb-rotated"]


def listed(*messages: dict[str, Any], cursor: str = "") -> dict[str, Any]:
    return {
        "ok": True,
        "messages": list(messages),
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def relay_message(ts: str, delivery_id: str) -> dict[str, Any]:
    return {
        "type": "message",
        "ts": ts,
        "metadata": {"event_type": METADATA_EVENT, "event_payload": {"delivery_id": delivery_id}},
    }


def query_of(route: respx.Route, call: int = -1) -> dict[str, str]:
    query = parse_qs(urlsplit(str(route.calls[call].request.url)).query)
    return {key: values[0] for key, values in query.items()}


ATTEMPTED = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


async def test_a_lookup_finds_the_message_by_the_delivery_id_in_its_metadata(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    route = slack.get(HISTORY_URL).mock(
        side_effect=[
            httpx.Response(
                200,
                json=listed(
                    {"type": "message", "ts": "1764565300.000001", "text": "someone else"},
                    relay_message("1764565250.000002", "e" * 32),
                    cursor="next-page",
                ),
            ),
            httpx.Response(200, json=listed(relay_message(TS, DELIVERY_ID))),
        ]
    )

    found = await provider.lookup(make_message(attempted_at=ATTEMPTED))

    assert found.state == Found.found and found.provider_id == TS
    first = query_of(route, 0)
    assert first["channel"] == CHANNEL and first["include_all_metadata"] == "true"
    # From a minute before the attempt, as Slack's clock may differ a little.
    assert first["oldest"] == f"{ATTEMPTED.timestamp() - 60:.6f}"
    assert route.calls[0].request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert query_of(route, 1)["cursor"] == "next-page"


async def test_a_lookup_that_finds_no_such_message_says_it_is_absent(
    slack: respx.MockRouter,
    provider: SlackProvider,
) -> None:
    slack.get(HISTORY_URL).respond(200, json=listed(relay_message(TS, "e" * 32)))

    found = await provider.lookup(make_message(attempted_at=ATTEMPTED))

    assert found.state == Found.absent


async def test_an_edit_is_looked_for_in_the_message_it_edits(
    slack: respx.MockRouter, provider: SlackProvider
) -> None:
    route = slack.get(HISTORY_URL).respond(200, json=listed(relay_message(TS, DELIVERY_ID)))
    card = make_card().seen(by="佐藤", at="10:42")

    found = await provider.lookup(make_message(card=card, replaces=TS, attempted_at=ATTEMPTED))

    assert found.state == Found.found and found.provider_id == TS
    query = query_of(route)
    assert (query["oldest"], query["latest"], query["inclusive"]) == (TS, TS, "true")
    # Not edited yet (the message still carries the original's delivery): it never arrived.
    route.respond(200, json=listed(relay_message(TS, "o" * 32)))
    again = await provider.lookup(make_message(card=card, replaces=TS, attempted_at=ATTEMPTED))
    assert again.state == Found.absent


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json=slack_error("missing_scope")),
        httpx.Response(429, json=slack_error("ratelimited"), headers={"Retry-After": "3"}),
        httpx.Response(503, text="unavailable"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("refused"),
    ],
)
async def test_a_lookup_slack_does_not_answer_is_asked_again_later(
    slack: respx.MockRouter, provider: SlackProvider, answer: httpx.Response | Exception
) -> None:
    slack.get(HISTORY_URL).mock(side_effect=[answer])

    found = await provider.lookup(make_message(attempted_at=ATTEMPTED))

    assert found.state == Found.unreachable and found.detail


async def test_a_history_too_long_to_read_is_unclear(
    slack: respx.MockRouter, provider: SlackProvider
) -> None:
    slack.get(HISTORY_URL).respond(200, json=listed(relay_message(TS, "e" * 32), cursor="more"))

    found = await provider.lookup(make_message(attempted_at=ATTEMPTED))

    assert found.state == Found.unclear


async def test_the_provider_is_registered_and_reached_at_the_configured_base(
    settings: Settings, secrets: DictSecrets
) -> None:
    live = settings.model_copy(update={"chat_delivery": "live", "slack_api_base": API_BASE + "/"})
    async with httpx.AsyncClient() as http_client:
        provider = CHAT_PROVIDERS[Channel.slack](
            settings=live, secrets=secrets, http_client=http_client
        )
        with respx.mock(assert_all_mocked=True) as router:
            route = router.post(POST_URL).respond(200, json=posted())
            result = await provider.send(make_message())
        assert isinstance(provider, SlackProvider)
        await provider.aclose()  # the shared client stays open: it is the caller's
        assert not http_client.is_closed
    assert result.outcome == Outcome.sent and route.called


def test_the_preview_is_the_call_slack_would_get_without_the_token() -> None:
    preview = CHAT_PREVIEWS[Channel.slack](make_message())
    assert preview["method"] == "chat.postMessage"
    assert preview["body"]["channel"] == CHANNEL
    assert preview["body"]["blocks"][-1]["elements"][0]["value"] == ACK_TOKEN
    assert BOT_TOKEN not in json.dumps(preview) and "sakura-slack" not in json.dumps(preview)

    card = make_card().seen(by="佐藤", at="10:42")
    update = CHAT_PREVIEWS[Channel.slack](make_message(card=card, replaces=TS))
    assert update["method"] == "chat.update" and update["body"]["ts"] == TS
