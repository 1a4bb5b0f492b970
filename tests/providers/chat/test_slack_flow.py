"""Slack end to end, with a local stand-in for Slack's Web API at RELAY_SLACK_API_BASE:
a memo becomes a Slack message, its button acknowledges the memo, and the message is edited."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session

from service import clock as relay_clock
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import DeliveryReason, DeliveryStatus
from service.memos.models import MemoStatus
from service.settings import Settings
from tests.chat import make_chat_company, store_secrets
from tests.dispatch.conftest import take_memo
from tests.providers.chat.support import (
    ChatFlow,
    assert_a_rate_limit_is_waited_out,
    assert_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back,
    rows_of,
    stored,
)
from tests.standin import serve_standin

SIGNING_SECRET = "e2e-slack-signing-secret-0123456789"
BOT_TOKEN = "xoxb-1111-2222-sakuraBotToken"
CHANNEL = "C0123ABCD"


@dataclass
class SlackStandin:
    """What the stand-in Slack holds: each channel's messages, and the calls it was sent."""

    tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, token)
    # Answers to give before doing as asked: ("429", seconds) or ("500-after", "").
    troubles: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def app(self) -> FastAPI:
        """The Web API methods Relay calls, as Slack documents them."""
        app = FastAPI()

        def authorised(request: Request, method: str) -> str | None:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            with self.lock:
                self.calls.append((method, token))
            return token if token in self.tokens else None

        @app.post("/api/chat.postMessage")
        async def post_message(request: Request) -> JSONResponse:
            if authorised(request, "chat.postMessage") is None:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            body = await request.json()
            trouble = self.troubles.pop(0) if self.troubles else None
            if trouble and trouble[0] == "429":
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    status_code=429,
                    headers={"Retry-After": trouble[1]},
                )
            with self.lock:
                self.counter += 1
                ts = f"{int(relay_clock.now().timestamp())}.{self.counter:06d}"
                self.messages.append({**body, "ts": ts, "edited": False})
            if trouble and trouble[0] == "500-after":
                return JSONResponse({"ok": False, "error": "internal_error"}, status_code=500)
            return JSONResponse({"ok": True, "channel": body["channel"], "ts": ts})

        @app.post("/api/chat.update")
        async def update(request: Request) -> JSONResponse:
            if authorised(request, "chat.update") is None:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            body = await request.json()
            with self.lock:
                found = [
                    m
                    for m in self.messages
                    if m["channel"] == body["channel"] and m["ts"] == body["ts"]
                ]
                if not found:
                    return JSONResponse({"ok": False, "error": "message_not_found"})
                found[0].update(
                    blocks=body["blocks"], text=body["text"], metadata=body["metadata"], edited=True
                )
            return JSONResponse({"ok": True, "channel": body["channel"], "ts": body["ts"]})

        @app.get("/api/conversations.history")
        async def history(request: Request) -> JSONResponse:
            if authorised(request, "conversations.history") is None:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            query = request.query_params
            oldest = float(query.get("oldest", "0"))
            with self.lock:
                listed = [
                    {"type": "message", "ts": m["ts"], "metadata": m["metadata"]}
                    for m in reversed(self.messages)
                    if m["channel"] == query["channel"] and float(m["ts"]) >= oldest
                ]
            return JSONResponse(
                {
                    "ok": True,
                    "messages": listed,
                    "has_more": False,
                    "response_metadata": {"next_cursor": ""},
                }
            )

        return app


@pytest.fixture
def slack() -> SlackStandin:
    return SlackStandin()


@pytest.fixture
def live_settings(settings: Settings, slack: SlackStandin) -> Iterator[Settings]:
    """Chat delivered live, Slack reached at the stand-in; the app's signing secret set."""
    with serve_standin(slack.app()) as base_url:
        yield settings.model_copy(
            update={
                "chat_delivery": "live",
                "slack_api_base": f"{base_url}/api",
                "slack_signing_secret": SecretStr(SIGNING_SECRET),
            }
        )


@pytest.fixture
def sakura(session: Session, live_settings: Settings) -> None:
    """A company whose memos also go to its Slack channel, its bot token in the secret store."""
    make_chat_company(session, "slack")
    store_secrets(session, live_settings, {"sakura-slack": BOT_TOKEN})


def press_button(relay: TestClient, message: dict[str, Any], *, user: str) -> int:
    """Press the message's acknowledge button, as Slack posts the interaction (signed)."""
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    button = actions["elements"][0]
    payload = {
        "type": "block_actions",
        "user": {"id": "U0SATO0001", "username": user, "name": user},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL},
        "channel": {"id": message["channel"], "name": "uketsuke"},
        "actions": [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": actions["block_id"],
                "value": button["value"],
                "action_ts": message["ts"],
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    timestamp = str(int(relay_clock.now().timestamp()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    response = relay.post(
        "/hooks/slack",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        },
    )
    return response.status_code


@pytest.mark.usefixtures("sakura")
async def test_a_memo_goes_to_slack_its_button_acknowledges_it_and_the_message_says_so(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    relay: TestClient,
    slack: SlackStandin,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [posted] = slack.messages
    assert slack.calls == [("chat.postMessage", BOT_TOKEN)]
    assert posted["channel"] == CHANNEL
    assert "予約時間の行き違い" in posted["blocks"][0]["text"]["text"]
    assert memo.ack_code in json.dumps(posted["blocks"], ensure_ascii=False)
    [sent] = rows_of(session, memo, Channel.slack)
    assert (sent.status, sent.provider_id) == (DeliveryStatus.sent, posted["ts"])

    clock.advance(timedelta(minutes=3))
    assert press_button(relay, posted, user="sato") == 200
    assert press_button(relay, posted, user="sato") == 200  # Slack repeating it

    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert (seen.acknowledged_by, seen.acknowledged_via) == ("sato", "slack")
    await dispatcher.run_once()

    assert [method for method, _ in slack.calls] == ["chat.postMessage", "chat.update"]
    [edited] = slack.messages
    assert edited["edited"] and edited["ts"] == posted["ts"]
    assert "actions" not in [block["type"] for block in edited["blocks"]]
    shown = json.dumps(edited["blocks"][-1], ensure_ascii=False)
    # 00:03 UTC is 09:03 in Tokyo, the company's time.
    assert "sato" in shown and "09:03" in shown
    updates = [
        d for d in rows_of(session, memo, Channel.slack) if d.reason == DeliveryReason.acknowledged
    ]
    assert [(d.status, d.provider_id) for d in updates] == [(DeliveryStatus.sent, posted["ts"])]


@pytest.mark.usefixtures("sakura")
async def test_an_answer_lost_after_slack_posted_is_looked_up_not_posted_twice(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    slack: SlackStandin,
    clock: ManualClock,
) -> None:
    slack.troubles.append(("500-after", ""))
    memo = take_memo(session, operator)

    await dispatcher.run_once()
    [pending] = rows_of(session, memo, Channel.slack)
    assert pending.status == DeliveryStatus.sending and pending.provider_id is None

    clock.advance(timedelta(minutes=5))
    await dispatcher.run_once()

    [posted] = slack.messages
    assert [method for method, _ in slack.calls] == ["chat.postMessage", "conversations.history"]
    [found] = rows_of(session, memo, Channel.slack)
    assert (found.status, found.provider_id) == (DeliveryStatus.sent, posted["ts"])


@pytest.mark.usefixtures("sakura")
async def test_a_rate_limit_is_waited_out_as_slack_asks(
    chat_flow: ChatFlow, slack: SlackStandin, clock: ManualClock
) -> None:
    await assert_a_rate_limit_is_waited_out(
        chat_flow,
        clock,
        standin=slack,
        posted=slack.messages,
        channel=Channel.slack,
        error_code="ratelimited",
    )


async def test_a_rotated_bot_token_is_used_at_once_and_an_unset_one_falls_back(
    chat_flow: ChatFlow, slack: SlackStandin
) -> None:
    await assert_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back(
        chat_flow,
        standin=slack,
        channel=Channel.slack,
        secret="sakura-slack",
        token=BOT_TOKEN,
        rotated="xoxb-rotated",
        refused_code="invalid_auth",
    )
