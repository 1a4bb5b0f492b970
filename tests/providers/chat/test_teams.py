"""The Teams provider against a Workflows webhook answered by respx: the Adaptive Card it posts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import Engine

from service.channels import Channel
from service.messages.chat import ChatCard
from service.providers.base import Found, Outcome, OutgoingMessage
from service.providers.chat import CHAT_PREVIEWS
from service.providers.chat.teams import TeamsProvider
from service.settings import Settings
from tests.providers.chat.support import (
    DictSecrets,
    assert_chosen_when_chat_goes_live,
    make_card,
    make_chat_message,
)

# A workflow URL as Teams gives it: its `sig` is the key, never to be logged or shown.
SIG = "Zq8vN3kP0sX2yW9rT4uJ7mB1cD5eF6gH"
WORKFLOW_URL = (
    "https://prod-12.japaneast.logic.azure.com:443/workflows/0f1e2d3c4b5a/triggers/manual/"
    f"paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
)
NEW_URL = "https://prod-34.japaneast.logic.azure.com/workflows/99aa/triggers/manual/paths/invoke"
ACK_URL = "http://testserver/a/tok123"


def make_message(*, card: ChatCard | None = None, **overrides: Any) -> OutgoingMessage:
    return make_chat_message(
        channel=Channel.teams,
        to="secret:sakura-teams",
        options={"kind": "teams", "secret": "sakura-teams"},
        card=card,
        **overrides,
    )


@pytest.fixture
def workflow() -> Iterator[respx.MockRouter]:
    """The workflow's trigger, as respx answers it; a request to anywhere else is an error."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets({"sakura-teams": WORKFLOW_URL})


@pytest.fixture
async def provider(secrets: DictSecrets) -> AsyncIterator[TeamsProvider]:
    teams = TeamsProvider(secrets=secrets)
    yield teams
    await teams.aclose()


def card_of(route: respx.Route, call: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[call].request.content)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


async def test_a_memo_is_posted_to_the_workflow_as_an_adaptive_card_with_a_link_to_acknowledge(
    workflow: respx.MockRouter, provider: TeamsProvider
) -> None:
    route = workflow.post(WORKFLOW_URL).respond(202)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers  # the URL's own key is the credential
    card = card_of(route)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, facts, summary, code = card["body"]
    assert title == {
        "type": "TextBlock",
        "text": "さくら歯科: 予約時間の行き違い",
        "wrap": True,
        "weight": "Bolder",
        "size": "Medium",
    }
    assert facts == {
        "type": "FactSet",
        "facts": [
            {"title": "受付", "value": "12/01 14:05"},
            {"title": "お名前", "value": "山田 太郎"},
            {"title": "区分", "value": "苦情"},
        ],
    }
    assert summary["type"] == "TextBlock" and summary["text"].startswith("本日15時の予約")
    assert summary["wrap"] is True
    assert code["type"] == "TextBlock" and code["text"] == "確認コード: 4821"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "確認しました", "url": ACK_URL}]


async def test_an_urgent_memos_title_is_in_the_attention_colour(
    workflow: respx.MockRouter, provider: TeamsProvider
) -> None:
    route = workflow.post(WORKFLOW_URL).respond(202)

    await provider.send(make_message(card=make_card(urgent=True, title="【至急】さくら歯科: 漏水")))

    title = card_of(route)["body"][0]
    assert title["color"] == "Attention" and title["text"] == "【至急】さくら歯科: 漏水"


async def test_a_card_posted_after_the_memo_was_seen_says_who_saw_it_and_only_opens_it(
    workflow: respx.MockRouter, provider: TeamsProvider
) -> None:
    route = workflow.post(WORKFLOW_URL).respond(202)

    await provider.send(make_message(card=make_card().seen(by="佐藤", at="10:42")))

    card = card_of(route)
    last = card["body"][-1]
    assert "佐藤" in last["text"] and "10:42" in last["text"] and last["color"] == "Good"
    assert "4821" not in json.dumps(card, ensure_ascii=False)
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "メモを開く", "url": ACK_URL}]


async def test_the_workflow_run_it_started_is_kept_when_power_automate_names_it(
    workflow: respx.MockRouter, provider: TeamsProvider
) -> None:
    workflow.post(WORKFLOW_URL).respond(202, headers={"x-ms-workflow-run-id": "0858555555"})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent and result.provider_id == "0858555555"


async def test_a_200_is_sent_too(workflow: respx.MockRouter, provider: TeamsProvider) -> None:
    workflow.post(WORKFLOW_URL).respond(200)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent and result.provider_id is None


async def test_a_429_is_tried_again_after_the_retry_after_teams_gives(
    workflow: respx.MockRouter, provider: TeamsProvider
) -> None:
    workflow.post(WORKFLOW_URL).respond(429, headers={"Retry-After": "45"})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable
    assert result.retry_after == 45.0 and result.error_code == "429"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_a_refused_card_or_key_fails_for_good_without_showing_the_url(
    workflow: respx.MockRouter, provider: TeamsProvider, status: int
) -> None:
    workflow.post(WORKFLOW_URL).respond(status, json={"error": {"code": "TriggerNotFound"}})

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent and result.error_code == str(status)
    assert result.error and SIG not in result.error and "logic.azure.com" not in result.error


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_5xx_leaves_the_outcome_unknown(
    workflow: respx.MockRouter, provider: TeamsProvider, status: int
) -> None:
    workflow.post(WORKFLOW_URL).respond(status)

    result = await provider.send(make_message())

    assert result.outcome == Outcome.unknown and result.error_code == str(status)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (httpx.ConnectError("connection refused"), Outcome.retryable),
        (httpx.ConnectTimeout("connect timed out"), Outcome.retryable),
        (httpx.ReadTimeout(f"read timed out from {WORKFLOW_URL}"), Outcome.unknown),
        (httpx.RemoteProtocolError("server disconnected"), Outcome.unknown),
    ],
)
async def test_no_connection_is_retryable_a_timeout_unknown_and_neither_shows_the_url(
    workflow: respx.MockRouter, provider: TeamsProvider, error: Exception, outcome: Outcome
) -> None:
    workflow.post(WORKFLOW_URL).mock(side_effect=error)

    result = await provider.send(make_message())

    assert result.outcome == outcome
    assert result.error and type(error).__name__ in result.error and SIG not in result.error


async def test_an_unset_workflow_url_fails_for_good_without_a_request(
    workflow: respx.MockRouter, secrets: DictSecrets, provider: TeamsProvider
) -> None:
    route = workflow.route().respond(202)
    secrets.values.clear()

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent and result.error_code == "secret_not_set"
    assert result.error and "secret 'sakura-teams' is not set" in result.error
    assert not route.called


@pytest.mark.parametrize(
    "url", ["http://prod-12.japaneast.logic.azure.com/workflows/x", "not a url", "ftp://x/y"]
)
async def test_a_workflow_url_that_is_not_https_is_refused_without_a_request(
    workflow: respx.MockRouter, secrets: DictSecrets, provider: TeamsProvider, url: str
) -> None:
    route = workflow.route().respond(202)
    secrets.values["sakura-teams"] = url

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent and result.error_code == "url_refused"
    assert not route.called


async def test_a_rotated_workflow_url_is_used_from_the_next_message_on(
    workflow: respx.MockRouter, secrets: DictSecrets, provider: TeamsProvider
) -> None:
    old = workflow.post(WORKFLOW_URL).respond(202)
    new = workflow.post(NEW_URL).respond(202)
    await provider.send(make_message())
    secrets.values["sakura-teams"] = NEW_URL

    await provider.send(make_message(delivery_id="e" * 32))

    assert old.call_count == 1 and new.call_count == 1


async def test_a_workflow_cannot_be_asked_so_an_unknown_outcome_is_unclear(
    workflow: respx.MockRouter, provider: TeamsProvider
) -> None:
    route = workflow.route().respond(202)

    found = await provider.lookup(make_message())

    assert found.state == Found.unclear and not route.called


async def test_the_provider_is_registered_and_chosen_when_chat_goes_live(
    settings: Settings, engine: Engine
) -> None:
    await assert_chosen_when_chat_goes_live(
        settings=settings, engine=engine, channel=Channel.teams, provider=TeamsProvider
    )


def test_the_preview_is_the_card_teams_would_get_without_the_url() -> None:
    preview = CHAT_PREVIEWS[Channel.teams](make_message())

    assert preview["url_secret"] == "sakura-teams"
    assert preview["body"]["attachments"][0]["content"]["actions"][0]["url"] == ACK_URL
    assert SIG not in json.dumps(preview)
