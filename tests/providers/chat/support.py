"""What the chat platform tests build alike: cards, outgoing messages, a secret store, reads."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from service.channels import Channel
from service.dispatch.models import Delivery, DeliveryReason
from service.memos.models import Memo
from service.messages.chat import ChatCard
from service.providers.base import ChatEvent, ChatPayload, OutgoingMessage
from tests.dispatch.conftest import deliveries

DELIVERY_ID = "d" * 32


class DictSecrets:
    """The secret store as a provider reads it: a dict that can change between sends."""

    def __init__(self, values: dict[str, str | None]) -> None:
        self.values = values

    async def get(self, name: str) -> str | None:
        return self.values.get(name)


def make_card(**overrides: Any) -> ChatCard:
    """The sample memo's chat card in Japanese; any field can be replaced."""
    fields: dict[str, Any] = {
        "locale": "ja",
        "company": "さくら歯科",
        "title": "さくら歯科: 予約時間の行き違い",
        "urgent": False,
        "facts": [("受付", "12/01 14:05"), ("お名前", "山田 太郎"), ("区分", "苦情")],
        "summary": "本日15時の予約が入っていなかった。至急折り返しを希望。",
        "code": "4821",
        "ack_url": "http://testserver/a/tok123",
        "ack_value": "tok123",
        "ack_label": "確認しました",
        "link_label": "メモを開く",
        "code_label": "確認コード",
    }
    fields.update(overrides)
    return ChatCard(**fields)


def make_chat_message(
    *,
    channel: Channel,
    to: str,
    options: dict[str, Any],
    card: ChatCard | None = None,
    event: ChatEvent | None = None,
    replaces: str | None = None,
    memo: dict[str, Any] | None = None,
    **overrides: Any,
) -> OutgoingMessage:
    """An outgoing chat message carrying `card`; an edit (`replaces`) is an acknowledged one."""
    card = card or make_card()
    if event is None:
        event = ChatEvent.acknowledged if replaces else ChatEvent.created
    fields: dict[str, Any] = {
        "delivery_id": DELIVERY_ID,
        "channel": channel,
        "to": to,
        "text": card.text,
        "subject": card.title,
        "chat": ChatPayload(
            event=event,
            card=card,
            options=options,
            memo=memo if memo is not None else {"id": "m" * 32},
            replaces=replaces,
        ),
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


def stored(session: Session, memo: Memo) -> Memo:
    """The memo as the database holds it now; the read ends its transaction."""
    session.expire_all()
    found = session.get(Memo, memo.id)
    session.commit()
    assert found is not None
    return found


def rows_of(session: Session, memo: Memo, channel: Channel) -> list[Delivery]:
    """The memo's deliveries on `channel`, routing ones first."""
    return [d for d in deliveries(session, memo) if d.channel == channel]


def fallbacks(rows: list[Delivery]) -> list[tuple[str, str]]:
    """Who was told instead, and how: (contact, channel) of each fallback delivery."""
    return [(d.contact_key, d.channel.value) for d in rows if d.reason == DeliveryReason.fallback]
