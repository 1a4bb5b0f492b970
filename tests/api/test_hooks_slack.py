"""POST /hooks/slack: a memo's acknowledge button pressed in Slack, signed by Slack."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.auth.models import User
from service.clock import ManualClock
from service.memos.ack_links import make_ack_token
from service.memos.models import Memo, MemoStatus
from service.providers.chat.slack import ACK_ACTION_ID, OPEN_ACTION_ID
from service.settings import Settings
from tests.api.chat_hooks import assert_untouched, take_chat_memo
from tests.chat import destination, make_chat_company
from tests.dispatch.conftest import take_memo
from tests.providers.chat.support import stored

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0123ABCD"


@pytest.fixture
def slack_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"slack_signing_secret": SecretStr(SIGNING_SECRET)})


@pytest.fixture
def slack_client(
    slack_settings: Settings, engine: Engine, clock: ManualClock
) -> Iterator[TestClient]:
    with TestClient(create_app(settings=slack_settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def memo(session: Session, operator: User) -> Memo:
    """A memo of a company whose memos also go to its Slack channel `ops`."""
    return take_chat_memo(session, operator, "slack")


def token_of(memo: Memo, settings: Settings, key: str = "ops") -> str:
    """The token the memo's Slack button carries, as the card was made with."""
    return make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key=key)


def interaction(
    token: str,
    *,
    action_id: str = ACK_ACTION_ID,
    user: dict[str, str] | None = None,
    channel: str = CHANNEL,
    kind: str = "block_actions",
) -> dict[str, Any]:
    """A block_actions payload as Slack posts it when a button is pressed."""
    return {
        "type": kind,
        "team": {"id": "T0TEAM0001", "domain": "sakura-dental"},
        "user": user or {"id": "U0SATO0001", "username": "sato", "name": "sato"},
        "api_app_id": "A0RELAY001",
        "container": {"type": "message", "message_ts": "1767571200.000100", "channel_id": channel},
        "channel": {"id": channel, "name": "uketsuke"},
        "trigger_id": "1234567890.1234567890.abcdef",
        "response_url": "https://hooks.slack.test/actions/T0TEAM0001/1/abc",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "relay_memo",
                "text": {"type": "plain_text", "text": "確認しました"},
                "value": token,
                "action_ts": "1767571230.000200",
            }
        ],
    }


def form_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()


def signed_headers(body: bytes, *, at: float, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's headers for `body` sent at `at`, signed with slack_sdk's own code."""
    timestamp = str(int(at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


def press(
    client: TestClient,
    clock: ManualClock,
    payload: dict[str, Any],
    *,
    age: timedelta = timedelta(0),
    secret: str = SIGNING_SECRET,
) -> Any:
    body = form_body(payload)
    headers = signed_headers(body, at=(clock.now() - age).timestamp(), secret=secret)
    return client.post("/hooks/slack", content=body, headers=headers)


def test_a_signed_press_acknowledges_the_memo_as_seen_in_slack_by_who_pressed(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
) -> None:
    response = press(slack_client, clock, interaction(token_of(memo, slack_settings)))

    assert response.status_code == 200 and response.content == b""
    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert (seen.acknowledged_by, seen.acknowledged_via) == ("sato", "slack")
    assert seen.acknowledged_at == clock.now()


def test_a_repeated_press_or_a_later_one_acknowledges_once(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
) -> None:
    payload = interaction(token_of(memo, slack_settings))
    first = press(slack_client, clock, payload)
    at = stored(session, memo).acknowledged_at

    clock.advance(timedelta(seconds=30))
    again = press(slack_client, clock, payload)
    other = interaction(token_of(memo, slack_settings), user={"id": "U0SUZUKI01", "name": "suzuki"})
    later = press(slack_client, clock, other)

    assert [r.status_code for r in (first, again, later)] == [200, 200, 200]
    seen = stored(session, memo)
    assert (seen.acknowledged_by, seen.acknowledged_at) == ("sato", at)


def test_the_user_is_named_by_username_or_id_when_slack_gives_no_name(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
) -> None:
    payload = interaction(token_of(memo, slack_settings), user={"id": "U0SATO0001"})

    assert press(slack_client, clock, payload).status_code == 200

    assert stored(session, memo).acknowledged_by == "U0SATO0001"


def test_an_unsigned_press_is_refused_and_changes_nothing(
    slack_client: TestClient, slack_settings: Settings, session: Session, memo: Memo
) -> None:
    body = form_body(interaction(token_of(memo, slack_settings)))

    response = slack_client.post(
        "/hooks/slack",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature" and response.json()["detail"]
    assert_untouched(session, memo)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Slack-Request-Timestamp": "x"}, id="timestamp-not-a-number"),
        pytest.param({"X-Slack-Signature": "v0=" + "0" * 64}, id="wrong-signature"),
        pytest.param({"X-Slack-Signature": "v1=abc"}, id="another-scheme"),
    ],
)
def test_a_wrong_signature_or_timestamp_is_refused_and_changes_nothing(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
    headers: dict[str, str],
) -> None:
    body = form_body(interaction(token_of(memo, slack_settings)))
    signed = signed_headers(body, at=clock.now().timestamp())

    response = slack_client.post("/hooks/slack", content=body, headers={**signed, **headers})

    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert_untouched(session, memo)


def test_a_press_signed_with_another_secret_is_refused(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
) -> None:
    payload = interaction(token_of(memo, slack_settings))

    response = press(slack_client, clock, payload, secret="another-apps-signing-secret")

    assert response.status_code == 401
    assert_untouched(session, memo)


def test_a_body_changed_after_signing_is_refused(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
) -> None:
    signed = form_body(interaction(token_of(memo, slack_settings)))
    headers = signed_headers(signed, at=clock.now().timestamp())
    changed = form_body(interaction(token_of(memo, slack_settings), user={"name": "mallory"}))

    response = slack_client.post("/hooks/slack", content=changed, headers=headers)

    assert response.status_code == 401
    assert_untouched(session, memo)


@pytest.mark.parametrize("age", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_a_press_signed_more_than_five_minutes_from_now_is_refused(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
    age: timedelta,
) -> None:
    payload = interaction(token_of(memo, slack_settings))

    assert press(slack_client, clock, payload, age=age).status_code == 401
    assert_untouched(session, memo)
    # Within the five minutes, the same press is taken.
    assert press(slack_client, clock, payload, age=timedelta(minutes=4)).status_code == 200
    assert stored(session, memo).acknowledged_via == "slack"


def test_without_a_signing_secret_the_hook_is_not_there(
    client: TestClient, clock: ManualClock, session: Session, memo: Memo, settings: Settings
) -> None:
    response = press(client, clock, interaction(token_of(memo, settings)))

    assert response.status_code == 404 and response.json()["code"] == "slack_not_configured"
    assert_untouched(session, memo)


@pytest.mark.parametrize(
    "body",
    [b"", b"payload=", b"payload=%7Bnot+json", b"payload=%5B1%2C2%5D", b"something=else"],
)
def test_a_signed_body_that_is_no_interaction_is_a_400_in_the_one_error_shape(
    slack_client: TestClient, clock: ManualClock, session: Session, memo: Memo, body: bytes
) -> None:
    headers = signed_headers(body, at=clock.now().timestamp())

    response = slack_client.post("/hooks/slack", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_payload" and response.json()["detail"]
    assert_untouched(session, memo)


def test_a_body_that_is_not_text_is_refused_as_unsigned(
    slack_client: TestClient, clock: ManualClock, session: Session, memo: Memo
) -> None:
    body = b"payload=\xff\xfe"
    timestamp = str(int(clock.now().timestamp()))
    mac = hmac.new(SIGNING_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, "sha256")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
    }

    response = slack_client.post("/hooks/slack", content=body, headers=headers)

    assert response.status_code == 401
    assert_untouched(session, memo)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p, t: {**p, "actions": []}, id="no-actions"),
        pytest.param(lambda p, t: {**p, "actions": "x"}, id="actions-not-a-list"),
        pytest.param(lambda p, t: {**p, "type": "view_submission"}, id="another-kind"),
        pytest.param(lambda p, t: interaction(t, action_id=OPEN_ACTION_ID), id="the-link"),
        pytest.param(lambda p, t: interaction(t + "x"), id="altered-token"),
        pytest.param(lambda p, t: interaction(""), id="empty-token"),
        pytest.param(lambda p, t: interaction(t, channel="C0OTHER001"), id="another-channel"),
        pytest.param(lambda p, t: {**p, "user": "sato", "actions": [1, None]}, id="odd-fields"),
    ],
)
def test_a_signed_press_that_is_not_an_acknowledgement_is_a_200_that_changes_nothing(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    memo: Memo,
    change: Any,
) -> None:
    token = token_of(memo, slack_settings)
    payload = change(interaction(token), token)

    response = press(slack_client, clock, payload)

    assert response.status_code == 200
    assert_untouched(session, memo)


def test_a_token_for_a_contact_or_another_platform_is_not_a_slack_acknowledgement(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    operator: User,
) -> None:
    memo = take_chat_memo(session, operator, "slack", "chatwork")

    for key in ("office", "support-room", "nobody"):
        assert press(
            slack_client, clock, interaction(token_of(memo, slack_settings, key))
        ).is_success

    assert_untouched(session, memo)


def test_a_press_in_a_direct_message_acknowledges_a_memo_sent_to_a_person(
    slack_client: TestClient,
    slack_settings: Settings,
    clock: ManualClock,
    session: Session,
    operator: User,
) -> None:
    make_chat_company(session, extra=[destination("slack", channel="U0SATO0001")])
    memo = take_memo(session, operator)

    press(slack_client, clock, interaction(token_of(memo, slack_settings), channel="D0DIRECT01"))

    assert stored(session, memo).acknowledged_via == "slack"
