"""Events reach subscribers once the transaction commits, and never when it rolls back."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from service import events
from service.events import Broker, Event, PostgresListener


async def _next(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), timeout=5.0)


async def _listening(engine: Engine) -> PostgresListener | None:
    if engine.dialect.name != "postgresql":
        return None
    listener = PostgresListener(database_url=engine.url.render_as_string(hide_password=False))
    listener.start()
    await asyncio.wait_for(listener.ready.wait(), timeout=10)
    return listener


async def test_committed_event_reaches_subscribers(engine: Engine) -> None:
    listener = await _listening(engine)
    try:
        async with events.broker.subscribe() as queue:

            def write() -> None:
                with Session(engine) as session:
                    events.emit(
                        session=session, type="memo.created", data={"id": "m1", "件名": "苦情"}
                    )
                    session.commit()

            await asyncio.to_thread(write)
            event = await _next(queue)
        assert event == Event(type="memo.created", data={"id": "m1", "件名": "苦情"})
    finally:
        if listener:
            await listener.stop()


async def test_rolled_back_event_is_never_seen(engine: Engine) -> None:
    listener = await _listening(engine)
    try:
        async with events.broker.subscribe() as queue:

            def write() -> None:
                with Session(engine) as session:
                    events.emit(session=session, type="memo.created", data={"id": "lost"})
                    session.rollback()
                    events.emit(session=session, type="memo.created", data={"id": "kept"})
                    session.commit()

            await asyncio.to_thread(write)
            event = await _next(queue)
        assert event.data == {"id": "kept"}
    finally:
        if listener:
            await listener.stop()


def test_unknown_event_type_is_refused(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match="unknown event type"):
        events.emit(session=session, type="memo.exploded", data={})


async def test_a_full_subscriber_does_not_block_others() -> None:
    broker = Broker(queue_size=1)
    async with broker.subscribe() as slow, broker.subscribe() as fast:
        broker.publish(Event("call.ringing", {"id": "1"}))
        assert (await _next(fast)).data == {"id": "1"}
        broker.publish(Event("call.ringing", {"id": "2"}))
        assert (await _next(fast)).data == {"id": "2"}
        assert slow.qsize() == 1
    assert broker.subscriber_count == 0
