"""POST /hooks/chatwork: a reply carrying a memo's code, signed with the room's webhook token."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.api.hooks_chatwork import codes_in, signature_of
from service.auth.models import User
from service.clock import ManualClock
from service.memos.models import Memo, MemoStatus
from service.providers.chat.chatwork import marker_of
from service.settings import Settings
from tests.api.chat_hooks import assert_untouched, take_chat_memo
from tests.chat import destination, make_chat_company, store_secrets
from tests.dispatch.conftest import take_memo
from tests.providers.chat.support import stored

ROOM = "123456789"
WEBHOOK_TOKEN = base64.b64encode(b"chatwork-webhook-token-0123456789").decode()
ACCOUNT = 1111111


@pytest.fixture
def memo(session: Session, settings: Settings, operator: User, clock: ManualClock) -> Memo:
    """A memo of a company whose messages also go to its Chatwork room `support-room`."""
    hook = {"sakura-chatwork-hook": WEBHOOK_TOKEN}
    return take_chat_memo(session, operator, "chatwork", settings=settings, secrets=hook)


def webhook(
    clock: ManualClock,
    body: str,
    *,
    room: int | str = int(ROOM),
    kind: str = "message_created",
    **changes: Any,
) -> bytes:
    """The JSON Chatwork posts when `body` is posted in `room`."""
    data: dict[str, Any] = {
        "webhook_setting_id": "12345",
        "webhook_event_type": kind,
        "webhook_event_time": int(clock.now().timestamp()),
        "webhook_event": {
            "message_id": "1928374655918273645",
            "room_id": room,
            "account_id": ACCOUNT,
            "body": body,
            "send_time": int(clock.now().timestamp()),
            "update_time": 0,
        },
    }
    data.update(changes)
    return json.dumps(data, ensure_ascii=False).encode()


def send(
    client: TestClient, body: bytes, *, token: str | None = WEBHOOK_TOKEN, in_query: bool = False
) -> Any:
    headers = {"Content-Type": "application/json"}
    url = "/hooks/chatwork"
    signature = signature_of(token=token, body=body) if token is not None else None
    if signature is not None and in_query:
        return client.post(
            url, content=body, headers=headers, params={"chatwork_webhook_signature": signature}
        )
    if signature is not None:
        headers["X-ChatWorkWebhookSignature"] = signature
    return client.post(url, content=body, headers=headers)


def test_a_reply_carrying_the_code_acknowledges_the_memo_once_even_when_repeated(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock
) -> None:
    wide = unicodedata.normalize("NFKC", memo.ack_code).translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    body = webhook(
        clock, f"[rp aid=42 to={ROOM}-1001]受付代行さん\n{wide} 確認しました。折り返します"
    )

    first = send(client, body)

    assert first.status_code == 200 and first.json() == {"result": "acknowledged"}
    seen = stored(session, memo)
    assert seen.status == MemoStatus.acknowledged
    assert seen.acknowledged_via == "chatwork"
    assert seen.acknowledged_by == f"Chatwork {ACCOUNT}"
    at = seen.acknowledged_at

    clock.advance(timedelta(seconds=30))
    again = send(client, webhook(clock, f"{memo.ack_code} 確認しました"))
    assert again.status_code == 200 and again.json() == {"result": "already"}
    assert stored(session, memo).acknowledged_at == at


def test_the_signature_may_come_in_the_query_and_a_mention_names_its_sender(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock
) -> None:
    event = {
        "from_account_id": 2222222,
        "to_account_id": 42,
        "room_id": int(ROOM),
        "message_id": "55",
        "body": f"[To:42]受付代行さん OK {memo.ack_code}",
        "send_time": int(clock.now().timestamp()),
        "update_time": 0,
    }
    body = webhook(clock, "", kind="mention_to_me", webhook_event=event)

    answer = send(client, body, in_query=True)

    assert answer.status_code == 200 and answer.json() == {"result": "acknowledged"}
    assert stored(session, memo).acknowledged_by == "Chatwork 2222222"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (None, "missing"),
        (base64.b64encode(b"someone else's token").decode(), "wrong token"),
    ],
)
def test_a_missing_or_wrong_signature_is_refused_with_nothing_changed(
    client: TestClient,
    session: Session,
    memo: Memo,
    clock: ManualClock,
    token: str | None,
    why: str,
) -> None:
    answer = send(client, webhook(clock, memo.ack_code), token=token)

    assert answer.status_code == 401, why
    assert answer.json()["code"] == "bad_signature" and answer.json()["detail"]
    assert_untouched(session, memo)


def test_a_body_altered_after_signing_is_refused(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock
) -> None:
    signed = webhook(clock, "了解")
    signature = signature_of(token=WEBHOOK_TOKEN, body=signed)
    assert signature is not None
    altered = webhook(clock, memo.ack_code)

    answer = client.post(
        "/hooks/chatwork",
        content=altered,
        headers={"Content-Type": "application/json", "X-ChatWorkWebhookSignature": signature},
    )

    assert answer.status_code == 401
    assert_untouched(session, memo)


def test_a_token_replaced_in_the_store_is_the_one_checked_at_once(
    client: TestClient, session: Session, settings: Settings, memo: Memo, clock: ManualClock
) -> None:
    rotated = base64.b64encode(b"the new webhook token").decode()
    store_secrets(session, settings, {"sakura-chatwork-hook": rotated})

    assert send(client, webhook(clock, memo.ack_code)).status_code == 401
    assert_untouched(session, memo)
    assert send(client, webhook(clock, memo.ack_code), token=rotated).status_code == 200
    assert stored(session, memo).status == MemoStatus.acknowledged


@pytest.mark.parametrize("offset", [timedelta(minutes=-11), timedelta(minutes=11)])
def test_a_webhook_from_another_time_is_refused_as_stale(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock, offset: timedelta
) -> None:
    body = webhook(clock, memo.ack_code)
    clock.advance(-offset)

    answer = send(client, body)

    assert answer.status_code == 401 and answer.json()["code"] == "stale_signature"
    assert_untouched(session, memo)


def test_a_room_whose_webhook_token_is_not_set_is_refused(
    client: TestClient, session: Session, operator: User, clock: ManualClock
) -> None:
    memo = take_chat_memo(session, operator, "chatwork")

    answer = send(client, webhook(clock, memo.ack_code))

    assert answer.status_code == 401
    assert_untouched(session, memo)


def test_a_room_relay_knows_nothing_of_is_refused(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock
) -> None:
    answer = send(client, webhook(clock, memo.ack_code, room=987654321))

    assert answer.status_code == 401
    assert_untouched(session, memo)


def test_a_listed_room_no_memo_went_to_yet_answers_once_its_signature_holds(
    client: TestClient, session: Session, settings: Settings, clock: ManualClock
) -> None:
    make_chat_company(session, "chatwork")
    store_secrets(session, settings, {"sakura-chatwork-hook": WEBHOOK_TOKEN})

    answer = send(client, webhook(clock, "テストです 1234"))

    assert answer.status_code == 200 and answer.json() == {"result": "ignored"}


@pytest.mark.parametrize(
    "words",
    [
        "了解しました。折り返します",  # no code
        "予約は2026/12/01 15:00、電話は090-1111-2222です",  # numbers that are not codes
        "[qt][qtmeta aid=42 time=1764590400]確認コード: {code}[/qt]これは何ですか?",  # a quote
        "[info][title]さくら歯科[/title]確認コード: {code}[/info]\n{marker}",  # Relay's own
        "メモ https://relay.example.jp/a/x{code}y を見ました",  # a link's digits
    ],
)
def test_a_message_without_the_code_typed_changes_nothing(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock, words: str
) -> None:
    body = words.format(code=memo.ack_code, marker=marker_of("d" * 32))

    answer = send(client, webhook(clock, body))

    assert answer.status_code == 200 and answer.json() == {"result": "ignored"}
    assert_untouched(session, memo)


def test_a_code_of_a_memo_that_went_to_another_room_changes_nothing_here(
    client: TestClient,
    session: Session,
    settings: Settings,
    operator: User,
    clock: ManualClock,
) -> None:
    other_room = destination("chatwork", key="other-room", room_id="555555555")
    only_there = [{"notify": ["office", "other-room"], "channels": ["email", "chatwork"]}]
    make_chat_company(session, "chatwork", extra=[other_room], routing=only_there)
    store_secrets(session, settings, {"sakura-chatwork-hook": WEBHOOK_TOKEN})
    memo = take_memo(session, operator)

    here = send(client, webhook(clock, memo.ack_code))

    assert here.status_code == 200 and here.json() == {"result": "ignored"}
    assert_untouched(session, memo)
    there = send(client, webhook(clock, memo.ack_code, room=555555555))
    assert there.status_code == 200 and there.json() == {"result": "acknowledged"}


def test_an_edited_message_or_another_event_changes_nothing(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock
) -> None:
    answer = send(client, webhook(clock, memo.ack_code, kind="message_updated"))

    assert answer.status_code == 200 and answer.json() == {"result": "ignored"}
    assert_untouched(session, memo)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"webhook_event_type": "message_created"}',
        b'{"webhook_event": {"room_id": "../1"}}',
        b'{"webhook_event": {"room_id": true}}',
    ],
)
def test_a_body_that_is_no_chatwork_webhook_is_a_400_never_a_500(
    client: TestClient, session: Session, memo: Memo, body: bytes
) -> None:
    answer = send(client, body)

    assert answer.status_code == 400 and answer.json()["code"] == "not_a_webhook"
    assert_untouched(session, memo)


def test_signed_fields_of_the_wrong_type_are_answered_not_crashed_on(
    client: TestClient, session: Session, memo: Memo, clock: ManualClock
) -> None:
    body = webhook(clock, "x", webhook_event_time="yesterday")
    assert send(client, body).status_code == 401
    event = {"room_id": int(ROOM), "body": 4821, "account_id": None}
    answer = send(client, webhook(clock, "", webhook_event=event))
    assert answer.status_code == 200 and answer.json() == {"result": "ignored"}
    assert_untouched(session, memo)


def test_codes_are_read_from_the_words_typed() -> None:
    assert codes_in("４８２１ 了解") == ["4821"]
    assert codes_in("OK4821です") == ["4821"]
    assert codes_in("482100 と 4821、4821") == ["482100", "4821"]
    assert codes_in("[To:1234567]山田さん\n了解") == []
    assert codes_in("12.50円、10:42、1,234件") == []
