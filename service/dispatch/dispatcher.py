"""The dispatcher: takes due deliveries, calls their providers, records what happened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TypeVar
from uuid import uuid4

from sqlalchemy import Engine
from sqlmodel import Session

from service import clock
from service.db import transaction
from service.dispatch import outbox
from service.dispatch.compose import outgoing, render_delivery
from service.events import Event, broker
from service.messages.render import TemplateError
from service.providers.base import (
    Channel,
    LookupResult,
    Outcome,
    OutgoingMessage,
    Provider,
    SendResult,
)
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Extra periodic work (escalation, for one) runs after each pass with its own transaction.
Step = Callable[[Session], int]


@dataclass
class Dispatcher:
    """One dispatcher; on PostgreSQL any number run side by side, on SQLite one."""

    engine: Engine
    settings: Settings
    providers: dict[Channel, Provider]
    policy: outbox.OutboxPolicy = field(default_factory=outbox.OutboxPolicy)
    batch_size: int = 50
    concurrency: int = 16
    idle_seconds: float = 1.0
    steps: list[Step] = field(default_factory=list)
    # When each extra step next has work, so an idle dispatcher wakes for it on time.
    timers: list[Callable[[Session], datetime | None]] = field(default_factory=list)
    name: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
    )

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(self.concurrency)

    def wake(self) -> None:
        """Look for work now instead of at the next idle tick."""
        self._wake.set()

    async def _db(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with transaction(self.engine) as session:
                return work(session)

        return await asyncio.to_thread(run)

    def _claim(
        self, session: Session, limit: int | None = None
    ) -> list[tuple[str, OutgoingMessage | None]]:
        claimed = outbox.claim_due(
            session=session, worker=self.name, limit=limit or self.batch_size, policy=self.policy
        )
        prepared: list[tuple[str, OutgoingMessage | None]] = []
        for delivery in claimed:
            try:
                render_delivery(session=session, delivery=delivery, settings=self.settings)
                prepared.append((delivery.id, outgoing(delivery=delivery, settings=self.settings)))
            except TemplateError as error:
                delivery.error = f"the message could not be formatted: {error}"[:500]
                prepared.append((delivery.id, None))
        return prepared

    async def _send(self, delivery_id: str, message: OutgoingMessage | None) -> None:
        if message is None:
            result = SendResult(outcome=Outcome.permanent, error="format error")
        else:
            async with self._limit:
                result = await self.providers[message.channel].send(message)
        await self._db(
            lambda session: outbox.record_outcome(
                session=session,
                delivery_id=delivery_id,
                result=result,
                worker=self.name,
                policy=self.policy,
            )
        )

    async def _reconcile(self) -> int:
        """Settle deliveries whose outcome is unknown or whose dispatcher died mid-send."""

        def take(session: Session) -> list[tuple[str, OutgoingMessage | None]]:
            rows = outbox.expired_claims(session=session, limit=self.batch_size)
            for row in rows:
                # Hold the row for this dispatcher while it asks the provider.
                row.claimed_by = self.name
                row.deadline = clock.now() + self.policy.claim_timeout
                session.add(row)
            return [
                (row.id, outgoing(delivery=row, settings=self.settings) if row.text else None)
                for row in rows
            ]

        stuck = await self._db(take)
        for delivery_id, message in stuck:
            found = None
            if message is not None:
                found = await self.providers[message.channel].lookup(message)
            await self._db(partial(self._settle, delivery_id=delivery_id, found=found))
        return len(stuck)

    def _settle(self, session: Session, *, delivery_id: str, found: LookupResult | None) -> None:
        outbox.settle_unknown(
            session=session, delivery_id=delivery_id, lookup=found, worker=self.name
        )

    async def run_once(self) -> int:
        """One pass: send what is due, settle what is stuck, run the extra steps."""
        claimed = await self._db(self._claim)
        await asyncio.gather(*(self._send(d, m) for d, m in claimed))
        settled = await self._reconcile()
        extra = 0
        for step in self.steps:
            extra += await self._db(step)
        return len(claimed) + settled + extra

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; new memos wake it at once.

        Sends run side by side, up to `concurrency`: a slow provider call never holds up
        claiming the next due delivery. On the way out, sends already started are awaited so
        their outcomes are recorded.
        """
        in_flight: set[asyncio.Task[None]] = set()
        async with broker.subscribe() as queue:
            waker = asyncio.create_task(self._wake_on_events(queue))
            try:
                while not stop.is_set():
                    try:
                        busy = await self._pass(in_flight)
                    except Exception:
                        log.exception("dispatcher pass failed; retrying shortly")
                        busy = 0
                    if busy:
                        continue
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._wait(stop, in_flight), timeout=await self._idle_for()
                        )
            finally:
                waker.cancel()
                if in_flight:
                    await asyncio.gather(*in_flight, return_exceptions=True)

    async def _pass(self, in_flight: set[asyncio.Task[None]]) -> int:
        """Claim what fits beside the sends in flight, settle what is stuck, run the steps."""
        room = self.concurrency - len(in_flight)
        claimed = (
            await self._db(partial(self._claim, limit=min(self.batch_size, room)))
            if room > 0
            else []
        )
        for delivery_id, message in claimed:
            task = asyncio.create_task(self._send(delivery_id, message))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        settled = await self._reconcile()
        extra = 0
        for step in self.steps:
            extra += await self._db(step)
        return len(claimed) + settled + extra

    async def _idle_for(self) -> float:
        """Seconds until the next known timer (a delivery or a step due), at most the idle tick."""

        def soonest(session: Session) -> datetime | None:
            moments = [outbox.next_due(session=session), *(timer(session) for timer in self.timers)]
            known = [moment for moment in moments if moment is not None]
            return min(known) if known else None

        try:
            moment = await self._db(soonest)
        except Exception:
            log.exception("could not read the next timer")
            return self.idle_seconds
        if moment is None:
            return self.idle_seconds
        # A timer already past (held by another dispatcher, say) is retried soon, not in a spin.
        return min(max((moment - clock.now()).total_seconds(), 0.05), self.idle_seconds)

    async def _wait(self, stop: asyncio.Event, in_flight: set[asyncio.Task[None]]) -> None:
        """Until stopped, woken, or a send finishes (making room for the next)."""
        stopper = asyncio.create_task(stop.wait())
        waker = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({stopper, waker, *in_flight}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            waker.cancel()

    async def _wake_on_events(self, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            if event.type == "memo.created":
                self.wake()
