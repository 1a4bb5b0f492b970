"""Teams end to end, with a local stand-in for a Workflows webhook: a memo becomes an Adaptive
Card, its button opens the link that acknowledges the memo, and nothing is posted twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import DeliveryReason, DeliveryStatus
from service.memos.models import MemoStatus
from service.settings import Settings
from tests.chat import destination, make_chat_company, store_secrets
from tests.dispatch.conftest import deliveries, take_memo
from tests.providers.chat.support import rows_of, stored
from tests.standin import serve_standin

SIG = "Zq8vN3kP0sX2yW9rT4uJ7mB1cD5eF6gH"
NEW_SIG = "Nw4sR0tAt3dK3yAfT3rR0tAt10nXyZ12"
TRIGGER = "/workflows/0f1e2d3c4b5a/triggers/manual/paths/invoke"


@dataclass
class Workflow:
    """What the stand-in workflow was posted, and how it answers."""

    sig: str = SIG
    cards: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    status: int = 202


def workflow_app(state: Workflow) -> FastAPI:
    """A workflow's trigger: its URL's `sig` is the key; it takes a message with one card."""
    app = FastAPI()

    @app.post(TRIGGER)
    async def trigger(request: Request) -> Response:
        if request.query_params.get("sig") != state.sig:
            state.refused += 1
            return Response(status_code=401)
        body = await request.json()
        [attachment] = body["attachments"]
        if body["type"] != "message" or attachment["content"]["type"] != "AdaptiveCard":
            return Response(status_code=400)
        state.cards.append(attachment["content"])
        return Response(status_code=state.status)

    return app


@pytest.fixture
def workflow() -> Iterator[tuple[Workflow, str]]:
    state = Workflow()
    with serve_standin(workflow_app(state)) as base:
        yield state, base


def workflow_url(base: str, sig: str = SIG) -> str:
    return f"{base}{TRIGGER}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig={sig}"


@pytest.fixture
def live_settings(settings: Settings, clock: ManualClock) -> Settings:
    """Chat delivered live; the workflow's URL is a stored secret."""
    return settings.model_copy(update={"chat_delivery": "live"})


async def test_a_memo_is_posted_as_a_card_whose_button_acknowledges_it(
    session: Session,
    settings: Settings,
    operator: User,
    client: TestClient,
    dispatcher: Dispatcher,
    workflow: tuple[Workflow, str],
) -> None:
    state, base = workflow
    make_chat_company(session, "teams")
    store_secrets(session, settings, {"sakura-teams": workflow_url(base)})
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [posted] = rows_of(session, memo, Channel.teams)
    assert posted.status == DeliveryStatus.sent and posted.to == "secret:sakura-teams"
    assert SIG not in (posted.error or "") and SIG not in (posted.payload or "")
    [card] = state.cards
    assert "予約時間の行き違い" in card["body"][0]["text"]
    assert any(memo.ack_code in block.get("text", "") for block in card["body"])
    [button] = card["actions"]
    assert button["type"] == "Action.OpenUrl" and button["title"] == "確認しました"

    # The button opens the memo's link; confirming there acknowledges it.
    done = client.post(urlsplit(button["url"]).path)
    assert done.status_code in (200, 303)
    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged and seen.acknowledged_via == "link"

    await dispatcher.run_once()

    # A workflow cannot edit what it posted: no update is queued, nothing more is posted.
    assert len(state.cards) == 1 and state.refused == 0
    assert [d.reason for d in rows_of(session, memo, Channel.teams)] == [DeliveryReason.routing]


async def test_a_rotated_workflow_url_is_used_for_the_next_memo_without_a_restart(
    session: Session,
    settings: Settings,
    operator: User,
    dispatcher: Dispatcher,
    workflow: tuple[Workflow, str],
) -> None:
    state, base = workflow
    make_chat_company(session, "teams")
    store_secrets(session, settings, {"sakura-teams": workflow_url(base)})
    take_memo(session, operator)
    await dispatcher.run_once()

    state.sig = NEW_SIG  # the workflow was recreated: the old URL no longer works
    store_secrets(session, settings, {"sakura-teams": workflow_url(base, NEW_SIG)})
    second = take_memo(session, operator, subject="駐車場の場所")
    await dispatcher.run_once()

    assert [d.status for d in rows_of(session, second, Channel.teams)] == [DeliveryStatus.sent]
    assert len(state.cards) == 2 and state.refused == 0
    assert "駐車場の場所" in state.cards[1]["body"][0]["text"]


async def test_a_workflow_that_fails_after_taking_the_card_is_never_posted_to_twice(
    session: Session,
    settings: Settings,
    operator: User,
    dispatcher: Dispatcher,
    workflow: tuple[Workflow, str],
    clock: ManualClock,
) -> None:
    state, base = workflow
    state.status = 502  # it may have posted the card before failing
    make_chat_company(
        session,
        extra=[destination("teams", fallback="director")],
        routing=[{"notify": ["office", "team"], "channels": ["email", "teams"]}],
    )
    store_secrets(session, settings, {"sakura-teams": workflow_url(base)})
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [unsure] = rows_of(session, memo, Channel.teams)
    assert unsure.status == DeliveryStatus.sending and "502" in (unsure.error or "")

    clock.advance(timedelta(minutes=5))
    await dispatcher.run_once()
    await dispatcher.run_once()

    [failed] = rows_of(session, memo, Channel.teams)
    assert failed.status == DeliveryStatus.failed and failed.attempts == 1
    assert len(state.cards) == 1
    # Like a contact's channel, a destination that failed for good hands over to its fallback.
    [handed] = [d for d in deliveries(session, memo) if d.reason == DeliveryReason.fallback]
    assert (handed.contact_key, handed.channel, handed.status) == (
        "director",
        Channel.email,
        DeliveryStatus.sent,
    )
