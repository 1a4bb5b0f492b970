"""The background worker: the dispatcher with escalation's steps, beside the web app or alone.

It sits above the domain packages because it wires them together: dispatch does not know
escalation, and neither knows which providers are configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

import service.models  # noqa: F401 - every table, so foreign keys resolve in a lone dispatcher
from service.dispatch.dispatcher import Dispatcher
from service.escalation.service import fire_due
from service.escalation.service import next_due as escalation_next_due
from service.events import PostgresListener
from service.followup.reminders import next_due as follow_up_next_due
from service.followup.reminders import send_due as send_follow_ups
from service.providers.registry import build_providers, close_providers
from service.reports.recap import RecapSchedule
from service.retention.runs import next_nightly, nightly_batch
from service.settings import Settings


@contextlib.asynccontextmanager
async def running_dispatcher(*, engine: Engine, settings: Settings) -> AsyncIterator[Dispatcher]:
    """A dispatcher working in the background for as long as the block runs."""
    providers = build_providers(settings=settings, engine=engine)
    dispatcher = Dispatcher(engine=engine, settings=settings, providers=providers)
    dispatcher.steps.append(lambda session: fire_due(session=session, worker=dispatcher.name))
    dispatcher.timers.append(lambda session: escalation_next_due(session=session))
    # Each company's daily recap, at the time it chose.
    recaps = RecapSchedule(settings=settings)
    dispatcher.steps.append(recaps.send_due)
    dispatcher.timers.append(recaps.next_due)
    # The nightly purge, a batch per step, so sends and escalations go on between batches.
    purge_at, purge_zone = settings.purge_time, ZoneInfo(settings.purge_timezone)
    dispatcher.steps.append(
        lambda session: nightly_batch(
            session=session, at=purge_at, zone=purge_zone, worker=dispatcher.name
        )
    )
    dispatcher.timers.append(
        lambda session: next_nightly(session=session, at=purge_at, zone=purge_zone)
    )
    dispatcher.steps.append(
        lambda session: send_follow_ups(session=session, worker=dispatcher.name)
    )
    dispatcher.timers.append(lambda session: follow_up_next_due(session=session))
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop), name="relay-dispatcher")
    try:
        yield dispatcher
    finally:
        stop.set()
        await task
        await close_providers(providers)


async def run_alone(*, engine: Engine, settings: Settings) -> None:
    """Run a dispatcher until SIGINT or SIGTERM."""
    listener = None
    if engine.dialect.name == "postgresql":
        # Wake on new memos committed by any app process.
        listener = PostgresListener(database_url=engine.url.render_as_string(hide_password=False))
        listener.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        async with running_dispatcher(engine=engine, settings=settings):
            await stopped.wait()
    finally:
        if listener is not None:
            await listener.stop()
