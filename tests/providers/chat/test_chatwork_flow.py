"""Chatwork end to end, with a local stand-in for Chatwork's API at RELAY_CHATWORK_API_BASE:
a memo becomes a room message, a reply carrying its code acknowledges it through the webhook,
and the message is edited to say so."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlmodel import Session

from service import clock as relay_clock
from service.api.hooks_chatwork import signature_of
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

API_TOKEN = "sakura0123456789abcdef0123456789"
WEBHOOK_TOKEN = base64.b64encode(b"sakura-room-webhook-token").decode()
ROOM = "123456789"
RELAY_ACCOUNT = 42
SATO = 2222222


@dataclass
class ChatworkStandin:
    """What the stand-in Chatwork holds: each room's messages, and the calls it was sent."""

    tokens: set[str] = field(default_factory=lambda: {API_TOKEN})
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method and path, token)
    # Answers to give before doing as asked: ("429", seconds) or ("500-after", "").
    troubles: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 1928374655918273600

    def app(self) -> FastAPI:
        """The endpoints Relay calls, as Chatwork documents them (form bodies, JSON answers)."""
        app = FastAPI()

        def refused(request: Request, call: str) -> JSONResponse | None:
            token = request.headers.get("x-chatworktoken", "")
            with self.lock:
                self.calls.append((call, token))
            if token in self.tokens:
                return None
            return JSONResponse({"errors": ["Invalid API Token"]}, status_code=401)

        async def form(request: Request) -> dict[str, str]:
            fields = parse_qs((await request.body()).decode())
            return {key: values[0] for key, values in fields.items()}

        @app.post("/v2/rooms/{room}/messages")
        async def post_message(room: str, request: Request) -> Response:
            if (refusal := refused(request, "POST messages")) is not None:
                return refusal
            trouble = self.troubles.pop(0) if self.troubles else None
            if trouble and trouble[0] == "429":
                return JSONResponse(
                    {"errors": ["Too Many Requests"]},
                    status_code=429,
                    headers={"Retry-After": trouble[1]},
                )
            posted = await form(request)
            with self.lock:
                self.counter += 1
                message = {
                    "room_id": room,
                    "message_id": str(self.counter),
                    "account": {"account_id": RELAY_ACCOUNT, "name": "受付代行"},
                    "body": posted["body"],
                    "self_unread": posted.get("self_unread"),
                    "send_time": int(relay_clock.now().timestamp()),
                    "update_time": 0,
                }
                self.messages.append(message)
            if trouble and trouble[0] == "500-after":
                return JSONResponse({"errors": ["Internal Server Error"]}, status_code=500)
            return JSONResponse({"message_id": message["message_id"]})

        @app.put("/v2/rooms/{room}/messages/{message_id}")
        async def edit_message(room: str, message_id: str, request: Request) -> Response:
            if (refusal := refused(request, "PUT message")) is not None:
                return refusal
            edited = await form(request)
            with self.lock:
                found = [
                    m
                    for m in self.messages
                    if m["room_id"] == room and m["message_id"] == message_id
                ]
                if not found:
                    return JSONResponse({"errors": ["Resource not found"]}, status_code=404)
                found[0].update(body=edited["body"], update_time=int(relay_clock.now().timestamp()))
            return JSONResponse({"message_id": message_id})

        @app.get("/v2/rooms/{room}/messages")
        async def list_messages(room: str, request: Request) -> Response:
            if (refusal := refused(request, "GET messages")) is not None:
                return refusal
            with self.lock:
                listed = [m for m in self.messages if m["room_id"] == room][-100:]
            if not listed:
                return Response(status_code=204)
            return JSONResponse(listed)

        return app

    def posted_by_relay(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["account"]["account_id"] == RELAY_ACCOUNT]


@pytest.fixture
def chatwork() -> ChatworkStandin:
    return ChatworkStandin()


@pytest.fixture
def live_settings(settings: Settings, chatwork: ChatworkStandin) -> Iterator[Settings]:
    """Chat delivered live, Chatwork reached at the stand-in."""
    with serve_standin(chatwork.app()) as base_url:
        yield settings.model_copy(
            update={"chat_delivery": "live", "chatwork_api_base": f"{base_url}/v2"}
        )


@pytest.fixture
def sakura(session: Session, live_settings: Settings) -> None:
    """A company whose memos also go to its Chatwork room, both tokens in the secret store."""
    make_chat_company(session, "chatwork")
    store_secrets(
        session,
        live_settings,
        {"sakura-chatwork": API_TOKEN, "sakura-chatwork-hook": WEBHOOK_TOKEN},
    )


def webhook(
    relay: TestClient, message: dict[str, Any], *, account: int, kind: str = "message_created"
) -> dict[str, Any]:
    """Tell Relay a message was posted in the room, as Chatwork's webhook does (signed)."""
    now = int(relay_clock.now().timestamp())
    body = json.dumps(
        {
            "webhook_setting_id": "7001",
            "webhook_event_type": kind,
            "webhook_event_time": now,
            "webhook_event": {
                "message_id": message["message_id"],
                "room_id": int(ROOM),
                "account_id": account,
                "body": message["body"],
                "send_time": now,
                "update_time": 0,
            },
        },
        ensure_ascii=False,
    ).encode()
    signature = signature_of(token=WEBHOOK_TOKEN, body=body)
    assert signature is not None
    response = relay.post(
        "/hooks/chatwork",
        content=body,
        headers={"Content-Type": "application/json", "X-ChatWorkWebhookSignature": signature},
    )
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.usefixtures("sakura")
async def test_a_memo_goes_to_the_room_a_reply_with_its_code_acknowledges_it_and_it_says_so(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    relay: TestClient,
    chatwork: ChatworkStandin,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [posted] = chatwork.messages
    assert chatwork.calls == [("POST messages", API_TOKEN)]
    assert posted["room_id"] == ROOM and posted["self_unread"] == "0"
    assert posted["body"].startswith("[To:1234567]\n[info][title]")
    assert "予約時間の行き違い" in posted["body"] and f": {memo.ack_code}\n" in posted["body"]
    [sent] = rows_of(session, memo, Channel.chatwork)
    assert (sent.status, sent.provider_id) == (DeliveryStatus.sent, posted["message_id"])

    # Chatwork tells the room's webhook of Relay's own post too: its code is no reply.
    assert webhook(relay, posted, account=RELAY_ACCOUNT) == {"result": "ignored"}
    assert stored(session, memo).acknowledged_at is None

    clock.advance(timedelta(minutes=3))
    reply = {
        "message_id": "1928374655918273999",
        "body": f"[rp aid={RELAY_ACCOUNT} to={ROOM}-{posted['message_id']}]受付代行さん\n"
        f"{memo.ack_code} 確認しました",
    }
    assert webhook(relay, reply, account=SATO) == {"result": "acknowledged"}
    assert webhook(relay, reply, account=SATO) == {"result": "already"}  # Chatwork repeating it

    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert (seen.acknowledged_by, seen.acknowledged_via) == (f"Chatwork {SATO}", "chatwork")
    await dispatcher.run_once()

    assert [call for call, _ in chatwork.calls] == ["POST messages", "PUT message"]
    [edited] = chatwork.messages
    assert edited["message_id"] == posted["message_id"] and edited["update_time"]
    # 00:03 UTC is 09:03 in Tokyo, the company's time.
    assert f"Chatwork {SATO}" in edited["body"] and "09:03" in edited["body"]
    assert f": {memo.ack_code}\n" not in edited["body"]
    updates = [
        d
        for d in rows_of(session, memo, Channel.chatwork)
        if d.reason == DeliveryReason.acknowledged
    ]
    assert [(d.status, d.provider_id) for d in updates] == [
        (DeliveryStatus.sent, posted["message_id"])
    ]
    # The edit, told to the webhook in turn, changes nothing.
    edit_told = webhook(relay, edited, account=RELAY_ACCOUNT, kind="message_updated")
    assert edit_told == {"result": "ignored"}


@pytest.mark.usefixtures("sakura")
async def test_an_answer_lost_after_chatwork_posted_is_looked_up_not_posted_twice(
    session: Session,
    operator: User,
    dispatcher: Dispatcher,
    chatwork: ChatworkStandin,
    clock: ManualClock,
) -> None:
    chatwork.troubles.append(("500-after", ""))
    memo = take_memo(session, operator)

    await dispatcher.run_once()
    [pending] = rows_of(session, memo, Channel.chatwork)
    assert pending.status == DeliveryStatus.sending and pending.provider_id is None

    clock.advance(timedelta(minutes=5))
    await dispatcher.run_once()

    [posted] = chatwork.messages
    assert [call for call, _ in chatwork.calls] == ["POST messages", "GET messages"]
    [found] = rows_of(session, memo, Channel.chatwork)
    assert (found.status, found.provider_id) == (DeliveryStatus.sent, posted["message_id"])


@pytest.mark.usefixtures("sakura")
async def test_a_rate_limit_is_waited_out_as_chatwork_asks(
    chat_flow: ChatFlow, chatwork: ChatworkStandin, clock: ManualClock
) -> None:
    await assert_a_rate_limit_is_waited_out(
        chat_flow,
        clock,
        standin=chatwork,
        posted=chatwork.messages,
        channel=Channel.chatwork,
        error_code="429",
    )


async def test_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back(
    chat_flow: ChatFlow, chatwork: ChatworkStandin
) -> None:
    await assert_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back(
        chat_flow,
        standin=chatwork,
        channel=Channel.chatwork,
        secret="sakura-chatwork",
        token=API_TOKEN,
        rotated="rotated-token",
        refused_code="401",
    )
