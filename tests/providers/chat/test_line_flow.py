"""LINE end to end, with a local stand-in for the Messaging API at RELAY_LINE_API_BASE: a memo
is pushed as a Flex Message, its postback acknowledges the memo, and the trail says LINE won."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlmodel import Session

from service import clock as relay_clock
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import DeliveryReason, DeliveryStatus
from service.memos.models import MemoStatus
from service.settings import Settings
from tests.chat import destination, make_chat_company, store_secrets
from tests.dispatch.conftest import take_memo
from tests.providers.chat.support import (
    ChatFlow,
    assert_a_rate_limit_is_waited_out,
    assert_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back,
    rows_of,
    stored,
)
from tests.standin import serve_standin

ACCESS_TOKEN = "line-channel-access-token-sakura"
CHANNEL_SECRET = "line-channel-secret-sakura"
TO = destination("line")["to"]
USER_ID = "U" + "5b1c" * 8
_LINE_ID = re.compile(r"[UCR][0-9a-f]{32}")


@dataclass
class LineStandin:
    """What the stand-in LINE Platform holds: pushed messages, retry keys, and the calls."""

    tokens: set[str] = field(default_factory=lambda: {ACCESS_TOKEN})
    pushed: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # retry key -> message id
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)  # path, token, key
    # Answers to give instead of or after doing as asked: ("429", seconds) or ("500-after", "").
    troubles: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 461230966842064000

    def app(self) -> FastAPI:
        """The push endpoint as the Messaging API documents it, its limits and retry keys."""
        app = FastAPI()

        def refused(status: int, message: str, **extra: Any) -> JSONResponse:
            return JSONResponse({"message": message, **extra}, status_code=status)

        @app.post("/v2/bot/message/push")
        async def push(request: Request) -> JSONResponse:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            key = request.headers.get("x-line-retry-key")
            with self.lock:
                self.calls.append((request.url.path, token, key))
            if token not in self.tokens:
                return refused(
                    401,
                    "Authentication failed. Confirm that the access token "
                    "in the authorization header is valid.",
                )
            try:
                if key is not None and str(uuid.UUID(key)) != key:
                    raise ValueError(key)
            except ValueError:
                return refused(400, "The value for the 'X-Line-Retry-Key' header is invalid")
            problem = _invalid(await request.json())
            if problem:
                return refused(400, "The request body has 1 error(s)", details=[problem])
            with self.lock:
                if key is not None and key in self.accepted:
                    return refused(
                        409,
                        "The retry key is already accepted",
                        sentMessages=[{"id": self.accepted[key], "quoteToken": "q"}],
                    )
                trouble = self.troubles.pop(0) if self.troubles else None
                if trouble and trouble[0] == "429":
                    return JSONResponse(
                        {"message": "The API rate limit has been exceeded. Try again later."},
                        status_code=429,
                        headers={"Retry-After": trouble[1]},
                    )
                self.counter += 1
                message_id = str(self.counter)
                body = await request.json()
                self.pushed.append({**body, "id": message_id, "retry_key": key})
                if key is not None:
                    self.accepted[key] = message_id
            if trouble and trouble[0] == "500-after":
                return refused(500, "Internal server error")
            return JSONResponse({"sentMessages": [{"id": message_id, "quoteToken": "q"}]})

        return app


def _invalid(body: Any) -> dict[str, str] | None:
    """The first documented limit the push body breaks, as LINE names it."""
    if not isinstance(body, dict) or not _LINE_ID.fullmatch(str(body.get("to", ""))):
        return {"message": "Invalid user id", "property": "to"}
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return {"message": "Size must be between 1 and 5", "property": "messages"}
    for message in messages:
        if message.get("type") != "flex" or not 1 <= len(message.get("altText", "")) <= 1500:
            return {"message": "Length must be between 1 and 1500", "property": "altText"}
        for action in _actions(message["contents"]):
            if len(action.get("label", "")) > 40:
                return {"message": "Length must be between 0 and 40", "property": "label"}
            if action["type"] == "postback" and not (
                len(action["data"]) <= 300 and len(action.get("displayText", "")) <= 300
            ):
                return {"message": "Length must be between 0 and 300", "property": "data"}
    return None


def _actions(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("action"), dict):
            yield node["action"]
        for value in node.values():
            yield from _actions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _actions(value)


@pytest.fixture
def line() -> LineStandin:
    return LineStandin()


@pytest.fixture
def live_settings(settings: Settings, line: LineStandin) -> Iterator[Settings]:
    """Chat delivered live, LINE reached at the stand-in."""
    with serve_standin(line.app()) as base_url:
        yield settings.model_copy(update={"chat_delivery": "live", "line_api_base": base_url})


@pytest.fixture
def sakura(session: Session, live_settings: Settings) -> None:
    """A company whose memos also go to a LINE user, its token and channel secret stored."""
    make_chat_company(session, "line")
    store_secrets(
        session,
        live_settings,
        {"sakura-line-token": ACCESS_TOKEN, "sakura-line-channel": CHANNEL_SECRET},
    )


def press_button(relay: TestClient, pushed: dict[str, Any], *, user: str) -> Any:
    """Tap the message's acknowledge button, as LINE posts the postback (signed)."""
    [postback] = [a for a in _actions(pushed["messages"][0]) if a["type"] == "postback"]
    event = {
        "type": "postback",
        "mode": "active",
        "timestamp": int(relay_clock.now().timestamp() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(),
        "deliveryContext": {"isRedelivery": False},
        "replyToken": uuid.uuid4().hex,
        "postback": {"data": postback["data"]},
    }
    body = json.dumps({"destination": "U" + "f" * 32, "events": [event]}).encode()
    digest = hmac.new(CHANNEL_SECRET.encode(), body, hashlib.sha256).digest()
    return relay.post(
        "/hooks/line",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Line-Signature": base64.b64encode(digest).decode(),
        },
    )


@pytest.mark.usefixtures("sakura")
async def test_a_memo_is_pushed_to_line_and_its_postback_acknowledges_it(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    relay: TestClient,
    line: LineStandin,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [pushed] = line.pushed
    [sent] = rows_of(session, memo, Channel.line)
    assert pushed["to"] == TO
    assert line.calls == [("/v2/bot/message/push", ACCESS_TOKEN, pushed["retry_key"])]
    words = json.dumps(pushed["messages"], ensure_ascii=False)
    assert "予約時間の行き違い" in words and memo.ack_code in words
    assert (sent.status, sent.provider_id) == (DeliveryStatus.sent, pushed["id"])

    clock.advance(timedelta(minutes=3))
    first = press_button(relay, pushed, user=USER_ID)
    assert (first.status_code, first.json()) == (200, {"acknowledged": 1})
    again = press_button(relay, pushed, user="U" + "9" * 32)  # a second tap, later
    assert (again.status_code, again.json()) == (200, {"acknowledged": 0})

    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert (seen.acknowledged_by, seen.acknowledged_via) == (USER_ID, "line")
    await dispatcher.run_once()

    # LINE cannot edit a pushed message: nothing more is sent there, and no update queued.
    assert len(line.calls) == 1 and len(line.pushed) == 1
    assert [d.reason for d in rows_of(session, memo, Channel.line)] == [DeliveryReason.routing]


@pytest.mark.usefixtures("sakura")
async def test_an_answer_lost_after_line_accepted_is_pushed_again_under_its_key_never_twice(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    line: LineStandin,
    clock: ManualClock,
) -> None:
    line.troubles.append(("500-after", ""))
    memo = take_memo(session, operator)

    await dispatcher.run_once()
    [waiting] = rows_of(session, memo, Channel.line)
    assert waiting.status == DeliveryStatus.retrying and waiting.provider_id is None
    assert "X-Line-Retry-Key" in (waiting.error or "")

    clock.advance(timedelta(minutes=1))
    await dispatcher.run_once()

    # The second push carried the same key; LINE answered 409, so the memo shows once.
    [pushed] = line.pushed
    keys = [key for _, _, key in line.calls]
    assert len(keys) == 2 and keys[0] == keys[1] == pushed["retry_key"]
    [sent] = rows_of(session, memo, Channel.line)
    assert (sent.status, sent.provider_id, sent.attempts) == (DeliveryStatus.sent, pushed["id"], 2)


@pytest.mark.usefixtures("sakura")
async def test_a_rate_limit_is_waited_out_as_line_asks(
    chat_flow: ChatFlow, line: LineStandin, clock: ManualClock
) -> None:
    await assert_a_rate_limit_is_waited_out(
        chat_flow,
        clock,
        standin=line,
        posted=line.pushed,
        channel=Channel.line,
        error_code="429",
    )


async def test_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back(
    chat_flow: ChatFlow, line: LineStandin
) -> None:
    failed = await assert_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back(
        chat_flow,
        standin=line,
        channel=Channel.line,
        secret="sakura-line-token",
        token=ACCESS_TOKEN,
        rotated="rotated-access-token",
        refused_code="401",
    )
    assert "Authentication failed" in (failed.error or "")
