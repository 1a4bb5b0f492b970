"""Chat destinations through the dispatcher: routed, kept in the dev outbox, updated when seen."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.channels import Channel
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.memos.models import MemoStatus
from service.providers.base import ChatEvent, ChatPayload
from service.providers.models import OutboxMessage
from tests.chat import make_chat_company
from tests.dispatch.conftest import deliveries, memo_status, take_memo


def _chat_rows(session: Session, memo_id: str) -> list[Delivery]:
    session.expire_all()
    rows = session.exec(
        select(Delivery)
        .where(Delivery.memo_id == memo_id, Delivery.channel != Channel.email)
        .order_by(col(Delivery.created_at), col(Delivery.channel))
    ).all()
    return list(rows)


async def test_a_memo_goes_to_each_destination_as_a_card_and_the_contacts_by_email(
    session: Session, operator: User, dispatcher: Dispatcher
) -> None:
    make_chat_company(session, "chatwork", "slack", "webhook")
    memo = take_memo(session, operator)

    await dispatcher.run_once()

    rows = deliveries(session, memo)
    assert {(d.contact_key, d.channel.value, d.to, d.status.value) for d in rows} == {
        ("office", "email", "uketsuke@example.jp", "sent"),
        ("support-room", "chatwork", "123456789", "sent"),
        ("ops", "slack", "C0123ABCD", "sent"),
        ("crm", "webhook", "https://crm.example.jp/relay", "sent"),
    }
    chatwork = next(d for d in rows if d.channel == Channel.chatwork)
    assert chatwork.payload is not None
    payload = ChatPayload.from_json(chatwork.payload)
    assert payload.event == ChatEvent.created
    assert payload.options["mention"] == ["1234567"]
    assert payload.options["secret"] == "sakura-chatwork"
    assert payload.card.code == memo.ack_code
    assert payload.card.ack_label == "確認しました"
    assert "予約時間の行き違い" in payload.card.title
    assert ("お客様名", "山田 太郎") in payload.card.facts or any(
        value == "山田 太郎" for _, value in payload.card.facts
    )
    assert payload.memo["id"] == memo.id and payload.memo["company"] == "sakura-dental"
    kept = session.exec(select(OutboxMessage).where(OutboxMessage.delivery_id == chatwork.id)).one()
    assert kept.channel == Channel.chatwork
    assert kept.payload is not None and json.loads(kept.payload)["card"]["code"] == memo.ack_code
    assert memo_status(session, memo) == MemoStatus.sent


async def test_an_acknowledgement_updates_each_message_that_can_be_updated_once(
    session: Session, operator: User, dispatcher: Dispatcher
) -> None:
    make_chat_company(session, "chatwork", "slack", "webhook", "line", "teams")
    memo = take_memo(session, operator)
    await dispatcher.run_once()

    first = acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.link)
    again = acknowledge(session=session, memo_id=memo.id, by="鈴木", via=AckVia.chatwork)
    session.commit()
    assert first is not None and first.first
    assert again is not None and not again.first

    updates = [d for d in _chat_rows(session, memo.id) if d.reason == DeliveryReason.acknowledged]
    # LINE and Teams cannot edit a posted message: only Slack, Chatwork and the webhook hear.
    assert sorted(d.channel.value for d in updates) == ["chatwork", "slack", "webhook"]
    originals = {
        d.channel: d for d in _chat_rows(session, memo.id) if d.reason == DeliveryReason.routing
    }
    for update in updates:
        assert update.payload is not None
        payload = ChatPayload.from_json(update.payload)
        assert payload.event == ChatEvent.acknowledged
        assert payload.replaces == originals[update.channel].provider_id
        assert payload.card.acknowledged is not None and "佐藤" in payload.card.acknowledged
        assert payload.memo["acknowledged"]["via"] == "link"
        assert update.text is not None and "佐藤" in update.text
    session.commit()

    await dispatcher.run_once()
    sent = {d.channel: d.status for d in _chat_rows(session, memo.id)}
    assert set(sent.values()) == {DeliveryStatus.sent}
