"""Signed webhooks end to end, with a local receiver that checks every signature as Standard
Webhooks receivers do: memo.created, then memo.acknowledged after the link; memo.failed when
the memo's email is refused; a copy sent again after an unknown outcome is dropped by its id."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlmodel import Session
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import DeliveryReason, DeliveryStatus
from service.memos.models import MemoStatus
from service.settings import Settings
from tests.chat import destination, make_chat_company, store_secrets
from tests.dispatch.conftest import take_memo
from tests.providers.chat.support import rows_of, stored
from tests.providers.smtp_server import RecordingHandler, smtp_server
from tests.standin import serve_standin

KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# The memo goes to the front desk by email and to the CRM as events.
ROUTING = [{"notify": ["office", "crm"], "channels": ["email", "webhook"]}]


@dataclass
class Receiver:
    """What the company's endpoint took in, and how it answers."""

    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    refused: int = 0
    # Answers to give before 204s, e.g. [503]: it keeps the event, then fails to say so.
    answers: list[int] = field(default_factory=list)


def receiver_app(state: Receiver) -> FastAPI:
    """An endpoint as a CRM would run it: verify, drop a copy it has, keep the event."""
    app = FastAPI()

    @app.post("/relay")
    async def relay(request: Request) -> Response:
        body = await request.body()
        try:
            event = Webhook(KEY).verify(body, dict(request.headers))
        except WebhookVerificationError:
            state.refused += 1
            return Response(status_code=401)
        message_id = request.headers["webhook-id"]
        state.ids.append(message_id)
        if message_id not in {e["id"] for e in state.events}:
            state.events.append({"id": message_id, **event})
        status = state.answers.pop(0) if state.answers else 204
        return Response(status_code=status)

    return app


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    with serve_standin(receiver_app(state)) as base:
        yield state, f"{base}/relay"


@pytest.fixture
def wall(clock: ManualClock) -> ManualClock:
    """The test's clock at the wall's time: a receiver refuses a signature five minutes off."""
    clock.set(datetime.now(UTC))
    return clock


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, int]]:
    """A mail server that takes every message, until told to refuse recipients."""
    handler = RecordingHandler()
    with smtp_server(handler) as controller:
        yield handler, int(controller.port)


@pytest.fixture
def live_settings(
    settings: Settings, smtp: tuple[RecordingHandler, int], wall: ManualClock
) -> Settings:
    """Events delivered live, email to the local mail server."""
    _, port = smtp
    return settings.model_copy(
        update={
            "chat_delivery": "live",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_tls": "none",
        }
    )


def _company(session: Session, settings: Settings, url: str) -> None:
    # No opening hours: the wall's time may be any hour, and every memo goes at once.
    make_chat_company(session, extra=[destination("webhook", url=url)], routing=ROUTING, hours=None)
    store_secrets(session, settings, {"sakura-webhook": KEY})


async def test_memo_created_then_the_link_acknowledges_and_memo_acknowledged_arrives(
    session: Session,
    settings: Settings,
    operator: User,
    client: TestClient,
    dispatcher: Dispatcher,
    receiver: tuple[Receiver, str],
) -> None:
    state, url = receiver
    _company(session, settings, url)
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [created] = state.events
    assert created["type"] == "memo.created"
    assert created["data"]["destination"] == "crm"
    data = created["data"]["memo"]
    assert (data["id"], data["company"], data["ack_code"]) == (
        memo.id,
        "sakura-dental",
        memo.ack_code,
    )
    assert data["subject"] == "予約時間の行き違い" and data["acknowledged"] is None
    [sent] = rows_of(session, memo, Channel.webhook)
    assert sent.status == DeliveryStatus.sent and sent.provider_id == created["id"]

    # Someone at the company opens the link the event carries and confirms.
    done = client.post(urlsplit(data["ack_url"]).path)
    assert done.status_code in (200, 303)
    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged and seen.acknowledged_via == "link"

    await dispatcher.run_once()

    assert [e["type"] for e in state.events] == ["memo.created", "memo.acknowledged"]
    acknowledged = state.events[1]
    assert acknowledged["id"] != created["id"]
    assert acknowledged["data"]["memo"]["id"] == memo.id
    assert acknowledged["data"]["memo"]["status"] == "acknowledged"
    assert acknowledged["data"]["memo"]["acknowledged"]["via"] == "link"
    assert acknowledged["data"]["memo"]["acknowledged"]["by"] == "crm"
    assert state.refused == 0
    assert {d.reason: d.status for d in rows_of(session, memo, Channel.webhook)} == {
        DeliveryReason.routing: DeliveryStatus.sent,
        DeliveryReason.acknowledged: DeliveryStatus.sent,
    }

    # Acknowledging again changes nothing and tells the endpoint nothing more.
    client.post(urlsplit(data["ack_url"]).path)
    await dispatcher.run_once()
    assert len(state.events) == 2


async def test_a_refused_email_sends_memo_failed_naming_it(
    session: Session,
    settings: Settings,
    operator: User,
    dispatcher: Dispatcher,
    receiver: tuple[Receiver, str],
    smtp: tuple[RecordingHandler, int],
) -> None:
    state, url = receiver
    handler, _ = smtp
    handler.rcpt_reply = "550 5.1.1 <uketsuke@example.jp>: no such user"
    _company(session, settings, url)
    memo = take_memo(session, operator)

    await dispatcher.run_once()
    await dispatcher.run_once()

    assert [e["type"] for e in state.events] == ["memo.created", "memo.failed"]
    failed = state.events[1]["data"]
    assert failed["memo"]["id"] == memo.id and failed["destination"] == "crm"
    assert failed["failed"]["contact"] == "office"
    assert failed["failed"]["channel"] == "email"
    assert "550" in failed["failed"]["error"]
    assert "to" not in failed["failed"]  # which contact, not their address
    assert state.refused == 0
    # The CRM took the memo: it is sent, not failed, though its email never arrived.
    assert stored(session, memo).status == MemoStatus.sent


async def test_an_unknown_outcome_is_sent_again_later_with_the_same_id_and_kept_once(
    session: Session,
    settings: Settings,
    operator: User,
    dispatcher: Dispatcher,
    receiver: tuple[Receiver, str],
    wall: ManualClock,
) -> None:
    state, url = receiver
    state.answers = [503]  # it keeps the event, then fails to say so
    _company(session, settings, url)
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    [waiting] = rows_of(session, memo, Channel.webhook)
    assert waiting.status == DeliveryStatus.retrying
    assert waiting.error and "webhook-id" in waiting.error
    assert waiting.due_at > wall.now()  # the dispatcher's backoff, not at once

    wall.advance(timedelta(minutes=1))
    await dispatcher.run_once()

    [sent] = rows_of(session, memo, Channel.webhook)
    assert sent.status == DeliveryStatus.sent and sent.attempts == 2
    assert len(state.ids) == 2 and state.ids[0] == state.ids[1] == sent.provider_id
    assert [e["type"] for e in state.events] == ["memo.created"]
    assert state.refused == 0
