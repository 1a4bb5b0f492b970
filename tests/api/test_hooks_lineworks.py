"""POST /hooks/lineworks: a memo's acknowledge postback, signed with its bot's secret."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.api.hooks_lineworks import signature_of
from service.auth.models import User
from service.clock import ManualClock
from service.memos.ack_links import make_ack_token
from service.memos.models import Memo, MemoStatus
from service.settings import Settings
from tests.api.chat_hooks import assert_untouched, take_chat_memo
from tests.providers.chat.support import stored

BOT_SECRET = "bot-secret-value"
USER_ID = "c72af563-0f21-4736-11e4-045237113344"


@pytest.fixture
def memo(session: Session, settings: Settings, operator: User, clock: ManualClock) -> Memo:
    """A memo of a company whose messages also go to its LINE WORKS channel `desk`."""
    bot = {"sakura-lineworks-bot": BOT_SECRET}
    return take_chat_memo(session, operator, "lineworks", "slack", settings=settings, secrets=bot)


def postback(settings: Settings, memo: Memo, clock: ManualClock, **changes: Any) -> bytes:
    """The callback LINE WORKS sends when the memo's button is pressed in channel `desk`."""
    event: dict[str, Any] = {
        "type": "postback",
        "source": {"userId": USER_ID, "channelId": "a1b2c3d4-channel", "domainId": 40029600},
        "issuedTime": clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "data": make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="desk"),
    }
    event.update(changes)
    return json.dumps(event).encode()


def send(
    client: TestClient,
    body: bytes,
    *,
    secret: str | None = BOT_SECRET,
    headers: dict[str, str] | None = None,
) -> Any:
    sent = {"Content-Type": "application/json", "X-WORKS-BotId": "2000001"}
    if secret is not None:
        sent["X-WORKS-Signature"] = signature_of(bot_secret=secret, body=body)
    sent.update(headers or {})
    return client.post("/hooks/lineworks", content=body, headers=sent)


def test_the_postback_acknowledges_the_memo_once_even_when_repeated(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    body = postback(settings, memo, clock)

    first = send(client, body)
    assert first.status_code == 200
    assert first.json() == {"result": "acknowledged"}
    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert seen.acknowledged_via == "lineworks"
    assert seen.acknowledged_by == USER_ID
    at = seen.acknowledged_at

    clock.advance(timedelta(seconds=20))
    again = send(client, body)
    assert again.status_code == 200
    assert again.json() == {"result": "already"}
    later = stored(session, memo)
    assert (later.acknowledged_at, later.acknowledged_by) == (at, USER_ID)


def test_the_memo_api_names_lineworks_as_the_path_that_won(
    client: TestClient,
    session: Session,
    settings: Settings,
    memo: Memo,
    clock: ManualClock,
    operator_headers: dict[str, str],
) -> None:
    assert send(client, postback(settings, memo, clock)).status_code == 200

    shown = client.get(f"/api/v1/memos/{memo.id}", headers=operator_headers).json()

    assert shown["acknowledged"]["via"] == "lineworks"
    assert shown["acknowledged"]["by"] == USER_ID


@pytest.mark.parametrize(
    ("secret", "headers"),
    [
        (None, {}),
        ("another-bots-secret", {}),
        (BOT_SECRET, {"X-WORKS-Signature": "not base64 at all"}),
        (BOT_SECRET, {"X-WORKS-BotId": "9999999"}),
    ],
    ids=["missing", "wrong-secret", "garbled", "another-bot"],
)
def test_a_missing_or_wrong_signature_is_refused_with_nothing_changed(
    secret: str | None,
    headers: dict[str, str],
    client: TestClient,
    session: Session,
    settings: Settings,
    memo: Memo,
    clock: ManualClock,
) -> None:
    answer = send(client, postback(settings, memo, clock), secret=secret, headers=headers)

    assert answer.status_code == 401
    assert answer.json()["status"] == 401
    assert answer.json()["code"] == "bad_signature"
    assert answer.json()["detail"]
    assert_untouched(session, memo)


def test_a_body_changed_after_signing_is_refused(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    body = postback(settings, memo, clock)
    signature = signature_of(bot_secret=BOT_SECRET, body=body)
    changed = body.replace(USER_ID.encode(), b"someone-else")

    answer = send(client, changed, secret=None, headers={"X-WORKS-Signature": signature})

    assert answer.status_code == 401
    assert_untouched(session, memo)


@pytest.mark.parametrize("age", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_a_stale_callback_is_refused_with_nothing_changed(
    age: timedelta,
    client: TestClient,
    session: Session,
    settings: Settings,
    memo: Memo,
    clock: ManualClock,
) -> None:
    body = postback(settings, memo, clock)
    clock.advance(age)

    answer = send(client, body)

    assert answer.status_code == 401
    assert answer.json()["code"] == "stale_signature"
    assert_untouched(session, memo)


def test_a_callback_without_its_time_is_refused(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    answer = send(client, postback(settings, memo, clock, issuedTime="yesterday"))

    assert answer.status_code == 401
    assert_untouched(session, memo)


def test_without_the_bot_secret_stored_nothing_can_be_trusted(
    client: TestClient, session: Session, settings: Settings, operator: User, clock: ManualClock
) -> None:
    memo = take_chat_memo(session, operator, "lineworks")

    answer = send(client, postback(settings, memo, clock))

    assert answer.status_code == 401
    assert_untouched(session, memo)


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "message", "content": {"type": "text", "text": "了解"}},
        {"data": "action=buy"},
        {"data": None},
        {"data": 42},
    ],
    ids=["message", "not-ours", "no-data", "number"],
)
def test_other_callbacks_are_answered_and_change_nothing(
    changes: dict[str, Any],
    client: TestClient,
    session: Session,
    settings: Settings,
    memo: Memo,
    clock: ManualClock,
) -> None:
    answer = send(client, postback(settings, memo, clock, **changes))

    assert answer.status_code == 200
    assert answer.json() == {"result": "ignored"}
    assert_untouched(session, memo)


def test_a_token_of_another_platforms_destination_changes_nothing(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    slack_token = make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="ops")

    answer = send(client, postback(settings, memo, clock, data=slack_token))

    assert answer.status_code == 200
    assert answer.json() == {"result": "ignored"}
    assert_untouched(session, memo)


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[1, 2]"])
def test_a_body_that_is_not_a_callback_is_never_a_server_error(
    body: bytes, client: TestClient, session: Session, memo: Memo
) -> None:
    answer = send(client, body)

    assert answer.status_code in (200, 400)
    if answer.status_code == 400:
        assert answer.json()["code"] == "not_a_callback"
    assert_untouched(session, memo)
