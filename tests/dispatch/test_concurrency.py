"""Several dispatchers on one PostgreSQL send each delivery exactly once; new memos wake them."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from service import clock as relay_clock
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.delivery_queue import QueuePolicy, enqueue
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.providers.models import OutboxMessage
from service.providers.registry import build_providers
from service.routing.service import Recipient
from service.settings import Settings
from tests.dispatch.conftest import take_memo


def _drain(dispatcher: Dispatcher, passes: int) -> None:
    async def work() -> None:
        for _ in range(passes):
            if not await dispatcher.run_once():
                return

    asyncio.run(work())


@pytest.mark.postgres_only
def test_two_dispatchers_send_a_thousand_deliveries_exactly_once(
    engine: Engine,
    session: Session,
    settings: Settings,
    operator: User,
    company: Company,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator, category="inquiry")
    # A thousand distinct addresses, so the per-destination throttle does not hold any back.
    recipients = [Recipient("office", Channel.email, f"office{i}@example.jp") for i in range(1000)]
    enqueue(
        session=session,
        memo=memo,
        recipients=recipients,
        reason=DeliveryReason.routing,
        due_at=clock.now(),
    )
    session.commit()

    dispatchers = [
        Dispatcher(
            engine=engine,
            settings=settings,
            providers=build_providers(settings=settings, engine=engine),
            policy=QueuePolicy(per_destination_per_minute=1000),
            batch_size=25,
            name=f"dispatcher-{n}",
        )
        for n in (1, 2)
    ]
    threads = [threading.Thread(target=_drain, args=(d, 200)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    sent = Counter(session.exec(select(OutboxMessage.delivery_id)).all())
    assert len(sent) == 1001  # the memo's own delivery and the thousand
    assert max(sent.values()) == 1
    statuses = Counter(session.exec(select(Delivery.status)).all())
    assert statuses == {DeliveryStatus.sent: sum(statuses.values())}
    attempts = session.exec(select(func.max(Delivery.attempts))).one()
    assert attempts == 1


async def test_a_new_memo_wakes_an_idle_dispatcher(
    engine: Engine,
    session: Session,
    settings: Settings,
    operator: User,
    company: Company,
) -> None:
    dispatcher = Dispatcher(
        engine=engine,
        settings=settings,
        providers=build_providers(settings=settings, engine=engine),
        idle_seconds=30,  # only a wake-up can explain a prompt send
    )
    listener = None
    if engine.dialect.name == "postgresql":
        from service.events import PostgresListener

        listener = PostgresListener(database_url=engine.url.render_as_string(hide_password=False))
        listener.start()
        await asyncio.wait_for(listener.ready.wait(), timeout=10)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        await asyncio.sleep(0.3)  # let it go idle
        memo = await asyncio.to_thread(take_memo, session, operator, category="inquiry")
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < 5:
            with Session(engine) as check:
                row = check.exec(select(Delivery).where(Delivery.memo_id == memo.id)).one()
                if row.status == DeliveryStatus.sent:
                    break
            await asyncio.sleep(0.02)
        assert row.status == DeliveryStatus.sent
        assert loop.time() - started < 2
    finally:
        stop.set()
        await task
        if listener:
            await listener.stop()
    assert timedelta(0) <= relay_clock.now() - row.created_at < timedelta(seconds=5)
