"""The dev outbox provider: messages kept in the database instead of going out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from service.channels import Channel
from service.clock import ManualClock
from service.db import make_engine
from service.providers import outbox
from service.providers.base import Found, Outcome
from service.providers.models import OutboxMessage
from service.providers.outbox import OutboxProvider
from tests.factories import make_outgoing_message


def _rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


async def test_send_stores_the_message_and_answers_sent_with_its_row(
    engine: Engine, clock: ManualClock
) -> None:
    message = make_outgoing_message(
        channel=Channel.email,
        to="sato@example.jp",
        subject="【苦情】予約時間の行き違い",
        text="山田様より苦情がありました。",
        html="<p>山田様より<strong>苦情</strong></p>",
    )

    result = await OutboxProvider(channel=Channel.email, engine=engine).send(message)

    assert result.outcome == Outcome.sent
    [row] = _rows(engine)
    assert result.provider_id == f"outbox-{row.id}"
    assert (row.delivery_id, row.channel, row.to) == (
        message.delivery_id,
        Channel.email,
        "sato@example.jp",
    )
    assert row.subject == "【苦情】予約時間の行き違い"
    assert row.text == "山田様より苦情がありました。"
    assert row.html == "<p>山田様より<strong>苦情</strong></p>"
    assert row.created_at == clock.now()


async def test_each_send_is_committed_on_its_own(engine: Engine, clock: ManualClock) -> None:
    provider = OutboxProvider(channel=Channel.sms, engine=engine)

    first = await provider.send(make_outgoing_message(delivery_id="a" * 32))
    second = await provider.send(make_outgoing_message(delivery_id="b" * 32))

    assert first.provider_id != second.provider_id
    assert {row.delivery_id for row in _rows(engine)} == {"a" * 32, "b" * 32}


async def test_lookup_finds_the_latest_row_of_the_delivery(
    engine: Engine, clock: ManualClock
) -> None:
    provider = OutboxProvider(channel=Channel.sms, engine=engine)
    message = make_outgoing_message()
    await provider.send(message)
    clock.advance(timedelta(minutes=1))
    latest = await provider.send(message)

    found = await provider.lookup(message)

    assert found.state == Found.found
    assert found.provider_id == latest.provider_id
    assert found.status == "sent"


async def test_lookup_of_a_delivery_never_stored_is_not_found(
    engine: Engine, clock: ManualClock
) -> None:
    provider = OutboxProvider(channel=Channel.sms, engine=engine)
    await provider.send(make_outgoing_message(delivery_id="a" * 32))

    found = await provider.lookup(make_outgoing_message(delivery_id="b" * 32))

    assert found.state == Found.absent


async def test_a_database_error_is_unknown_and_the_lookup_asks_again_later(
    tmp_path: Path, clock: ManualClock
) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")  # no outbox table
    provider = OutboxProvider(channel=Channel.voice, engine=broken)
    message = make_outgoing_message(channel=Channel.voice)

    result = await provider.send(message)
    found = await provider.lookup(message)
    broken.dispose()

    assert result.outcome == Outcome.unknown
    assert result.error is not None
    assert found.state == Found.unreachable


def test_latest_messages_are_newest_first_and_filtered(
    session: Session, clock: ManualClock
) -> None:
    for index, (channel, to) in enumerate(
        [
            (Channel.sms, "+819011112222"),
            (Channel.email, "sato@example.jp"),
            (Channel.sms, "+819033334444"),
        ]
    ):
        outbox.store_message(
            session=session,
            message=make_outgoing_message(
                delivery_id=f"{index:032d}", channel=channel, to=to, text=f"伝言{index}"
            ),
        )
        clock.advance(timedelta(seconds=5))
    session.commit()

    every = outbox.latest_messages(session=session)
    sms = outbox.latest_messages(session=session, channel=Channel.sms)
    one = outbox.latest_messages(session=session, to="+819011112222")
    by_delivery = outbox.latest_messages(session=session, delivery_id=f"{1:032d}")
    limited = outbox.latest_messages(session=session, limit=1)

    assert [row.text for row in every] == ["伝言2", "伝言1", "伝言0"]
    assert [row.text for row in sms] == ["伝言2", "伝言0"]
    assert [row.text for row in one] == ["伝言0"]
    assert [row.text for row in by_delivery] == ["伝言1"]
    assert [row.text for row in limited] == ["伝言2"]
