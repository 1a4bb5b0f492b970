"""POST /hooks/line: a memo's acknowledge postback, signed with its channel's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.auth.models import User
from service.calls.models import WebhookReceipt
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch.compose import render_delivery
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.memos.ack_links import make_ack_token
from service.memos.models import Memo, MemoStatus
from service.providers.base import ChatPayload
from service.settings import Settings
from tests.api.chat_hooks import assert_untouched as assert_memo_untouched
from tests.api.chat_hooks import take_chat_memo
from tests.chat import destination, make_chat_company, store_secrets
from tests.dispatch.conftest import take_memo
from tests.providers.chat.support import stored

CHANNEL_SECRET = "line-channel-secret"
USER_ID = "U" + "4af4980629" * 3 + "ab"
OTHER_USER = "U" + "0123456789" * 3 + "cd"
EVENT_ID = "01FZ74A0TDDPYRVKNK77XKC3ZR"


@pytest.fixture
def memo(session: Session, settings: Settings, operator: User, clock: ManualClock) -> Memo:
    """A memo of a company whose messages also go to its LINE user `owner` and Slack."""
    channel = {"sakura-line-channel": CHANNEL_SECRET}
    return take_chat_memo(session, operator, "line", "slack", settings=settings, secrets=channel)


def postback_event(settings: Settings, memo: Memo, clock: ManualClock, **changes: Any) -> dict:
    """The event LINE sends when the memo's button is pressed by USER_ID."""
    event: dict[str, Any] = {
        "type": "postback",
        "mode": "active",
        "timestamp": int(clock.now().timestamp() * 1000),
        "source": {"type": "user", "userId": USER_ID},
        "webhookEventId": EVENT_ID,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "b60d432864f44d079f6d8efe86cf404b",
        "postback": {
            "data": make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="owner")
        },
    }
    event.update(changes)
    return event


def webhook(*events: dict[str, Any]) -> bytes:
    """A webhook body as LINE sends it: the bot's user id and its events."""
    body = {"destination": "U" + "f" * 32, "events": list(events)}
    return json.dumps(body, ensure_ascii=False).encode()


def signature(body: bytes, secret: str = CHANNEL_SECRET) -> str:
    """X-Line-Signature: base64 of the HMAC-SHA256 of the body, keyed by the channel secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def send(client: TestClient, body: bytes, *, signed: str | None = None, sign: bool = True) -> Any:
    headers = {"Content-Type": "application/json"}
    if sign:
        headers["X-Line-Signature"] = signed if signed is not None else signature(body)
    return client.post("/hooks/line", content=body, headers=headers)


def assert_untouched(session: Session, memo: Memo) -> None:
    """The memo is not acknowledged, and no webhook event was kept as seen."""
    assert_memo_untouched(session, memo)
    receipts = session.exec(select(WebhookReceipt)).all()
    session.commit()
    assert receipts == []


def test_the_postback_acknowledges_the_memo_once_even_when_line_sends_it_again(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    body = webhook(postback_event(settings, memo, clock))

    first = send(client, body)
    assert first.status_code == 200
    assert first.json() == {"acknowledged": 1}
    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert seen.acknowledged_via == "line"
    assert seen.acknowledged_by == USER_ID
    at = seen.acknowledged_at

    # LINE redelivers the same event, and another member presses the button later.
    clock.advance(timedelta(minutes=3))
    redelivered = postback_event(settings, memo, clock, deliveryContext={"isRedelivery": True})
    pressed_again = postback_event(
        settings,
        memo,
        clock,
        webhookEventId="01FZ74A0TDDPYRVKNK77XKC3ZS",
        source={"type": "group", "groupId": "C" + "1" * 32, "userId": OTHER_USER},
    )
    for body in (webhook(redelivered), webhook(pressed_again)):
        again = send(client, body)
        assert again.status_code == 200
        assert again.json() == {"acknowledged": 0}
    later = stored(session, memo)
    assert (later.acknowledged_at, later.acknowledged_by) == (at, USER_ID)


def test_the_memo_api_names_line_as_the_path_that_won_and_slack_hears_of_it(
    client: TestClient,
    session: Session,
    settings: Settings,
    memo: Memo,
    clock: ManualClock,
    operator_headers: dict[str, str],
) -> None:
    assert send(client, webhook(postback_event(settings, memo, clock))).status_code == 200

    shown = client.get(f"/api/v1/memos/{memo.id}", headers=operator_headers).json()

    assert shown["acknowledged"]["via"] == "line"
    assert shown["acknowledged"]["by"] == USER_ID


def test_an_acknowledgement_from_line_updates_the_slack_message_but_not_the_line_one(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    # Both chat messages went out; a LINE message cannot be edited once pushed.
    for delivery in session.exec(select(Delivery).where(Delivery.memo_id == memo.id)).all():
        render_delivery(session=session, delivery=delivery, settings=settings)
        delivery.status = DeliveryStatus.sent
        delivery.provider_id = f"{delivery.channel.value}-message-1"
    session.commit()

    assert send(client, webhook(postback_event(settings, memo, clock))).status_code == 200

    updates = session.exec(
        select(Delivery).where(
            Delivery.memo_id == memo.id, Delivery.reason == DeliveryReason.acknowledged
        )
    ).all()
    session.commit()
    assert [(d.channel, d.contact_key) for d in updates] == [(Channel.slack, "ops")]
    assert updates[0].payload is not None
    payload = ChatPayload.from_json(updates[0].payload)
    assert payload.replaces == "slack-message-1"
    assert payload.memo["acknowledged"]["via"] == "line"
    assert payload.card.acknowledged is not None and USER_ID in payload.card.acknowledged


@pytest.mark.parametrize(
    ("signed", "sign"),
    [
        (None, False),
        ("", True),
        ("not base64 at all", True),
        ("secret-of-another-channel", True),
    ],
    ids=["missing", "empty", "garbled", "wrong-secret"],
)
def test_a_missing_or_wrong_signature_is_refused_with_nothing_changed(
    signed: str | None,
    sign: bool,
    client: TestClient,
    session: Session,
    settings: Settings,
    memo: Memo,
    clock: ManualClock,
) -> None:
    body = webhook(postback_event(settings, memo, clock))
    if signed == "secret-of-another-channel":
        signed = signature(body, secret=signed)

    answer = send(client, body, signed=signed, sign=sign)

    assert answer.status_code == 401
    assert answer.json()["status"] == 401
    assert answer.json()["code"] == "bad_signature"
    assert answer.json()["detail"]
    assert_untouched(session, memo)


def test_a_body_changed_after_signing_is_refused(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    body = webhook(postback_event(settings, memo, clock))
    changed = body.replace(USER_ID.encode(), OTHER_USER.encode())

    answer = send(client, changed, signed=signature(body))

    assert answer.status_code == 401
    assert_untouched(session, memo)


def test_a_signature_by_a_rotated_channel_secret_is_stale_and_refused(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    body = webhook(postback_event(settings, memo, clock))
    old = signature(body)
    store_secrets(session, settings, {"sakura-line-channel": "the-new-channel-secret"})

    refused = send(client, body, signed=old)
    assert refused.status_code == 401
    assert_untouched(session, memo)

    # The new secret is used at once, with no restart.
    taken = send(client, body, signed=signature(body, secret="the-new-channel-secret"))
    assert taken.status_code == 200
    assert stored(session, memo).acknowledged_via == "line"


def test_without_the_channel_secret_stored_nothing_can_be_trusted(
    client: TestClient, session: Session, settings: Settings, operator: User, clock: ManualClock
) -> None:
    memo = take_chat_memo(session, operator, "line")

    answer = send(client, webhook(postback_event(settings, memo, clock)))

    assert answer.status_code == 401
    assert_untouched(session, memo)


def test_one_bad_signature_refuses_every_event_of_the_webhook(
    client: TestClient, session: Session, settings: Settings, memo: Memo, operator: User
) -> None:
    # A second memo of another company with its own LINE channel: one body cannot be
    # signed by both channels' secrets, so nothing in it is acknowledged.
    store_secrets(session, settings, {"other-line-channel": "another-channel-secret"})
    make_chat_company(
        session,
        extra=[destination("line", signing_secret="other-line-channel")],
        slug="hoshi-clinic",
        name="ほし診療所",
    )
    other = take_memo(session, operator, client="hoshi-clinic")
    token = make_ack_token(secret=settings.secret(), memo_id=other.id, contact_key="owner")
    body = webhook(
        postback_event(settings, memo, ManualClock()),
        postback_event(
            settings, memo, ManualClock(), webhookEventId="X" * 26, postback={"data": token}
        ),
    )

    answer = send(client, body)

    assert answer.status_code == 401
    assert_untouched(session, memo)
    assert stored(session, other).acknowledged_at is None


def test_the_consoles_verify_request_and_other_events_are_answered_with_nothing_changed(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    bodies = [
        webhook(),  # the Developers Console's "Verify" button
        webhook(
            postback_event(settings, memo, clock, type="message", postback=None),
            postback_event(settings, memo, clock, type="follow", postback=None),
            postback_event(settings, memo, clock, postback={"data": "action=buy&itemid=111"}),
            postback_event(settings, memo, clock, postback={"data": 42}),
            postback_event(settings, memo, clock, postback={"data": "x" * 301}),
            postback_event(settings, memo, clock, postback="nothing"),
        ),
    ]

    for body in bodies:
        answer = send(client, body)
        assert answer.status_code == 200
        assert answer.json() == {"acknowledged": 0}
    assert_untouched(session, memo)


def test_a_forged_token_or_another_platforms_destination_changes_nothing(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    slack_token = make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="ops")
    forged = make_ack_token(secret="not-relays-secret", memo_id=memo.id, contact_key="owner")
    unknown = make_ack_token(secret=settings.secret(), memo_id="0" * 32, contact_key="owner")

    for token in (slack_token, forged, unknown):
        body = webhook(postback_event(settings, memo, clock, postback={"data": token}))
        answer = send(client, body)
        assert answer.status_code == 200
        assert answer.json() == {"acknowledged": 0}
    assert_untouched(session, memo)


def test_an_event_without_a_user_is_acknowledged_as_line(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    event = postback_event(settings, memo, clock, source={"type": "room", "roomId": "R" + "2" * 32})
    event.pop("webhookEventId")

    assert send(client, webhook(event)).json() == {"acknowledged": 1}

    assert stored(session, memo).acknowledged_by == "LINE"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"events": {}}',
        b'{"destination": "U1"}',
        b"[" * 100_000,
    ],
    ids=["not-json", "empty", "not-utf8", "a-list", "events-not-a-list", "no-events", "deep"],
)
def test_a_body_that_is_not_a_webhook_is_never_a_server_error(
    body: bytes, client: TestClient, session: Session, memo: Memo
) -> None:
    answer = send(client, body)

    assert answer.status_code == 400
    assert answer.json()["code"] == "not_a_webhook"
    assert_untouched(session, memo)


def test_a_webhook_without_a_signature_is_refused_before_its_body_is_read(
    client: TestClient, session: Session, memo: Memo
) -> None:
    assert send(client, b"{not json", sign=False).status_code == 401
    assert send(client, webhook(), sign=False).status_code == 401
    receipts = session.exec(
        select(WebhookReceipt).where(col(WebhookReceipt.key).like("line:%"))
    ).all()
    session.commit()
    assert receipts == []
