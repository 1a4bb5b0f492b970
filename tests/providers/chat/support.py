"""What the chat platform tests build alike: cards, outgoing messages, a secret store, reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.memos.models import Memo
from service.messages.chat import ChatCard
from service.providers.base import ChatEvent, ChatPayload, OutgoingMessage
from service.providers.chat import CHAT_PROVIDERS
from service.providers.registry import build_providers, close_providers
from service.settings import Settings
from tests.chat import destination, make_chat_company, store_secrets
from tests.dispatch.conftest import deliveries, take_memo

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


def make_line_card(**overrides: Any) -> ChatCard:
    """The card the LINE and LINE WORKS tests send: two facts, a short summary, and a link on
    Relay's public address whose token the postback carries too."""
    fields: dict[str, Any] = {
        "facts": [("受付", "2026-04-01 10:15"), ("お客様名", "山田 太郎")],
        "summary": "本日15時の予約が入っていなかった。",
        "ack_url": "https://relay.example.jp/a/ack-token.signed",
        "ack_value": "ack-token.signed",
    }
    fields.update(overrides)
    return make_card(**fields)


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


async def assert_chosen_when_chat_goes_live(
    *, settings: Settings, engine: Engine, channel: Channel, provider: type[Any]
) -> None:
    """With chat delivered live, the registry builds `channel`'s provider from the settings."""
    live = settings.model_copy(update={"chat_delivery": "live"})

    providers = build_providers(settings=live, engine=engine, secrets=DictSecrets({}))
    try:
        assert isinstance(providers[channel], provider)
        assert CHAT_PROVIDERS[channel] == provider.from_settings
    finally:
        await close_providers(providers)


class TokenStandin(Protocol):
    """A stand-in platform that takes a set of tokens and can be told to answer with trouble."""

    tokens: set[str]
    # Answers to give before doing as asked: ("429", seconds) or ("500-after", "").
    troubles: list[tuple[str, str]]

    @property
    def calls(self) -> Sequence[tuple[Any, ...]]:
        """Every call it was sent, the token it carried second."""
        ...


@dataclass
class ChatFlow:
    """Relay's side of a flow test: its session, who takes memos, the live dispatcher and settings."""

    session: Session
    operator: User
    dispatcher: Dispatcher
    settings: Settings


async def assert_a_rate_limit_is_waited_out(
    flow: ChatFlow,
    clock: ManualClock,
    *,
    standin: TokenStandin,
    posted: list[dict[str, Any]],
    channel: Channel,
    error_code: str,
) -> None:
    """A 429 asking for two minutes: the delivery waits at least that long, then goes once."""
    session, operator, dispatcher = flow.session, flow.operator, flow.dispatcher
    standin.troubles.append(("429", "120"))
    memo = take_memo(session, operator)

    await dispatcher.run_once()
    [waiting] = rows_of(session, memo, channel)
    assert waiting.status == DeliveryStatus.retrying and waiting.error_code == error_code
    assert waiting.due_at is not None and waiting.due_at >= clock.now() + timedelta(seconds=120)
    assert posted == []

    clock.advance(timedelta(minutes=15))
    await dispatcher.run_once()

    [sent] = rows_of(session, memo, channel)
    assert sent.status == DeliveryStatus.sent and sent.attempts == 2
    assert len(posted) == 1


async def assert_a_rotated_token_is_used_at_once_and_a_refused_one_falls_back(
    flow: ChatFlow,
    *,
    standin: TokenStandin,
    channel: Channel,
    secret: str,
    token: str,
    rotated: str,
    refused_code: str,
) -> Delivery:
    """The destination's token stored anew is used for the next memo; once the platform takes
    no token, the delivery fails for good and the destination's fallback is told. Returns the
    failed delivery."""
    session, operator, dispatcher, settings = (
        flow.session,
        flow.operator,
        flow.dispatcher,
        flow.settings,
    )
    make_chat_company(session, extra=[destination(channel.value, fallback="director")])
    store_secrets(session, settings, {secret: token})
    first = take_memo(session, operator)
    await dispatcher.run_once()

    standin.tokens = {rotated}
    store_secrets(session, settings, {secret: rotated})
    second = take_memo(session, operator)
    await dispatcher.run_once()

    assert [call[1] for call in standin.calls] == [token, rotated]
    assert rows_of(session, first, channel)[0].status == DeliveryStatus.sent
    assert rows_of(session, second, channel)[0].status == DeliveryStatus.sent

    standin.tokens = set()
    third = take_memo(session, operator)
    await dispatcher.run_once()

    rows = deliveries(session, third)
    failed = next(d for d in rows if d.channel == channel)
    assert failed.status == DeliveryStatus.failed and failed.error_code == refused_code
    assert fallbacks(rows) == [("director", "email")]
    return failed
