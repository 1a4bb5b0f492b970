"""LINE WORKS end to end against a local stand-in: memo → card → postback → acknowledged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from fastapi import FastAPI, Form, Header, Request, Response
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.api.hooks_lineworks import signature_of
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
from tests.providers.chat.test_lineworks import PRIVATE_PEM, PUBLIC_PEM
from tests.standin import serve_standin

BOT_SECRET = "bot-secret-value"
CLIENT_SECRET = "client-secret-value"
ACCESS_TOKEN = "standin-access-token"
USER_ID = "c72af563-0f21-4736-11e4-045237113344"
SECRETS = {
    "sakura-lineworks-key": PRIVATE_PEM,
    "sakura-lineworks-client": CLIENT_SECRET,
    "sakura-lineworks-bot": BOT_SECRET,
}


@dataclass
class StandIn:
    """What the stand-in LINE WORKS was asked, and how it answers a message."""

    tokens: list[dict[str, Any]] = field(default_factory=list)
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    message_status: int = 201


def standin_app(state: StandIn) -> FastAPI:
    """The token endpoint and the bot message API, checking what LINE WORKS checks."""
    app = FastAPI()

    @app.post("/oauth2/v2.0/token")
    def token(
        assertion: str = Form(),
        grant_type: str = Form(),
        client_id: str = Form(),
        client_secret: str = Form(),
        scope: str = Form(),
    ) -> Any:
        try:
            # The test's clock is not the system's: the signature is checked, not the times.
            claims = jwt.decode(
                assertion,
                PUBLIC_PEM,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return Response(status_code=400, content='{"error": "invalid_grant"}')
        good = (
            grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            and client_id == claims["iss"] == "client-abc"
            and claims["sub"] == "abc.serviceaccount@sakura.example"
            and client_secret == CLIENT_SECRET
            and scope == "bot"
            and 0 < claims["exp"] - claims["iat"] <= 3600
        )
        if not good:
            return Response(status_code=401, content='{"error": "invalid_client"}')
        state.tokens.append(claims)
        return {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": "86400"}

    @app.post("/v1.0/bots/{bot_id}/channels/{channel_id}/messages")
    async def message(
        bot_id: str, channel_id: str, request: Request, authorization: str = Header()
    ) -> Response:
        if authorization != f"Bearer {ACCESS_TOKEN}":
            return Response(status_code=401, content='{"code": "UNAUTHORIZED"}')
        state.messages.append((f"{bot_id}/{channel_id}", await request.json()))
        return Response(status_code=state.message_status)

    return app


@pytest.fixture
def standin() -> Iterator[tuple[StandIn, str]]:
    state = StandIn()
    with serve_standin(standin_app(state)) as base:
        yield state, base


@pytest.fixture
def live_settings(settings: Settings, standin: tuple[StandIn, str], clock: ManualClock) -> Settings:
    """Chat delivered live, LINE WORKS' to the stand-in."""
    _, base = standin
    return settings.model_copy(
        update={
            "chat_delivery": "live",
            "lineworks_api_base": f"{base}/v1.0",
            "lineworks_auth_url": f"{base}/oauth2/v2.0/token",
        }
    )


def press_button(
    client: TestClient, clock: ManualClock, *, data: str, channel_id: str
) -> dict[str, Any]:
    """What LINE WORKS sends when someone presses the card's postback button."""
    body = json.dumps(
        {
            "type": "postback",
            "source": {"userId": USER_ID, "channelId": channel_id, "domainId": 40029600},
            "issuedTime": clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "data": data,
        }
    ).encode()
    answer = client.post(
        "/hooks/lineworks",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-WORKS-Signature": signature_of(bot_secret=BOT_SECRET, body=body),
            "X-WORKS-BotId": "2000001",
        },
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_a_memo_is_posted_and_its_postback_acknowledges_it(
    session: Session,
    settings: Settings,
    operator: User,
    client: TestClient,
    dispatcher: Dispatcher,
    standin: tuple[StandIn, str],
    clock: ManualClock,
) -> None:
    state, _ = standin
    make_chat_company(session, "lineworks")
    store_secrets(session, settings, SECRETS)
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [posted] = rows_of(session, memo, Channel.lineworks)
    assert posted.status == DeliveryStatus.sent
    assert posted.to == "channel:a1b2c3d4-channel"
    assert len(state.tokens) == 1
    [(where, request)] = state.messages
    assert where == "2000001/a1b2c3d4-channel"
    content = request["content"]
    assert content["type"] == "flex"
    words = json.dumps(content, ensure_ascii=False)
    assert "予約時間の行き違い" in words and memo.ack_code in words
    [postback] = [
        item["action"]
        for item in content["contents"]["footer"]["contents"]
        if item["action"]["type"] == "postback"
    ]

    first = press_button(client, clock, data=postback["data"], channel_id="a1b2c3d4-channel")
    again = press_button(client, clock, data=postback["data"], channel_id="a1b2c3d4-channel")

    assert (first, again) == ({"result": "acknowledged"}, {"result": "already"})
    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert (seen.acknowledged_via, seen.acknowledged_by) == ("lineworks", USER_ID)

    # LINE WORKS cannot edit a bot's message: nothing is posted again once it is seen.
    await dispatcher.run_once()
    rows = rows_of(session, memo, Channel.lineworks)
    assert [d.reason for d in rows] == [DeliveryReason.routing]
    assert len(state.messages) == 1


@pytest.mark.parametrize("failure", ["refused", "secret-not-set"])
async def test_a_destination_that_fails_for_good_falls_back_to_the_contact_it_names(
    failure: str,
    session: Session,
    settings: Settings,
    operator: User,
    dispatcher: Dispatcher,
    standin: tuple[StandIn, str],
) -> None:
    state, _ = standin
    if failure == "refused":
        state.message_status = 404  # the bot is not in that channel (any more)
        store_secrets(session, settings, SECRETS)
    else:
        store_secrets(session, settings, {"sakura-lineworks-bot": BOT_SECRET})
    make_chat_company(
        session,
        extra=[destination("lineworks", fallback="director")],
    )
    memo = take_memo(session, operator)

    await dispatcher.run_once()
    await dispatcher.run_once()

    rows = deliveries(session, memo)
    [failed] = [d for d in rows if d.channel == Channel.lineworks]
    assert failed.status == DeliveryStatus.failed
    if failure == "secret-not-set":
        assert failed.error is not None and "'sakura-lineworks-key' is not set" in failed.error
        assert state.tokens == []
    [fallback] = [d for d in rows if d.reason == DeliveryReason.fallback]
    assert (fallback.contact_key, fallback.channel, fallback.to) == (
        "director",
        Channel.email,
        "sato@example.jp",
    )
    assert fallback.status == DeliveryStatus.sent
