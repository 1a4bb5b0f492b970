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
from service.dispatch import delivery_queue, liveness, outcomes, recovery
from service.dispatch.compose import (
    Words,
    WordsSource,
    compose_words,
    fix_words,
    outgoing,
    words_source,
)
from service.dispatch.models import Delivery
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
# What a claimed delivery goes out as: a message, or the result it already has (a message
# that could not be formatted fails without calling any provider).
Prepared = tuple[str, OutgoingMessage | SendResult]


@dataclass(frozen=True)
class _Claimed:
    delivery: Delivery
    source: WordsSource | None  # what to render it from; None when its words are fixed


@dataclass
class Dispatcher:
    """One dispatcher; on PostgreSQL any number run side by side, on SQLite one."""

    engine: Engine
    settings: Settings
    providers: dict[Channel, Provider]
    policy: delivery_queue.QueuePolicy = field(default_factory=delivery_queue.QueuePolicy)
    batch_size: int = 50
    concurrency: int = 16
    idle_seconds: float = 1.0
    steps: list[Step] = field(default_factory=list)
    # When each extra step next has work, so an idle dispatcher wakes for it on time.
    timers: list[Callable[[Session], datetime | None]] = field(default_factory=list)
    name: str = field(
        default_factory=lambda: f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid4().hex[:8]}"
    )
    heartbeat_seconds: float = liveness.HEARTBEAT_EVERY.total_seconds()

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

    def _take(self, session: Session, limit: int) -> list[_Claimed]:
        claimed = delivery_queue.claim_due(
            session=session, worker=self.name, limit=limit, policy=self.policy
        )
        return [
            _Claimed(
                delivery=delivery,
                source=None
                if delivery.text is not None
                else words_source(session=session, delivery=delivery),
            )
            for delivery in claimed
        ]

    def _render(self, claimed: list[_Claimed]) -> dict[str, Words | SendResult]:
        rendered: dict[str, Words | SendResult] = {}
        for item in claimed:
            if item.source is None:
                continue
            try:
                rendered[item.delivery.id] = compose_words(
                    source=item.source, settings=self.settings
                )
            except TemplateError as error:
                rendered[item.delivery.id] = _unformatted(str(error))
            except Exception as error:
                log.exception("delivery=%s could not be rendered", item.delivery.id)
                rendered[item.delivery.id] = _unformatted(type(error).__name__)
        return rendered

    async def _claim(self, limit: int | None = None) -> list[Prepared]:
        """Claim due deliveries, render the new ones, fix their words; what to send."""
        claimed = await self._db(partial(self._take, limit=limit or self.batch_size))
        if not claimed:
            return []
        # The claim is committed: templates render with no transaction open, so a slow one
        # holds up nobody's writes.
        rendered = await asyncio.to_thread(self._render, claimed)
        words = {
            delivery_id: result.values()
            for delivery_id, result in rendered.items()
            if isinstance(result, Words)
        }
        kept = (
            await self._db(
                lambda session: delivery_queue.store_words(
                    session=session, worker=self.name, words=words
                )
            )
            if words
            else set()
        )
        prepared: list[Prepared] = []
        for item in claimed:
            delivery = item.delivery
            result = rendered.get(delivery.id)
            if isinstance(result, SendResult):
                prepared.append((delivery.id, result))
                continue
            if isinstance(result, Words):
                if delivery.id not in kept:
                    continue  # the claim was lost meanwhile; its new holder sends it
                fix_words(delivery=delivery, words=result)
            prepared.append((delivery.id, outgoing(delivery=delivery, settings=self.settings)))
        return prepared

    async def _send(self, delivery_id: str, message: OutgoingMessage | SendResult) -> None:
        if isinstance(message, SendResult):
            result = message
        else:
            async with self._limit:
                result = await self.providers[message.channel].send(message)
        await self._db(
            lambda session: outcomes.record_outcome(
                session=session,
                delivery_id=delivery_id,
                result=result,
                worker=self.name,
                policy=self.policy,
            )
        )

    async def _reconcile(self) -> int:
        """Settle deliveries whose outcome is unknown or whose dispatcher died mid-send."""

        def take(session: Session) -> tuple[list[tuple[str, OutgoingMessage]], int]:
            rows, settled = recovery.take_unsettled(
                session=session, worker=self.name, limit=self.batch_size, policy=self.policy
            )
            return [
                (row.id, outgoing(delivery=row, settings=self.settings)) for row in rows
            ], settled

        stuck, settled = await self._db(take)
        await asyncio.gather(*(self._ask(d, m) for d, m in stuck))
        return len(stuck) + settled

    async def _ask(self, delivery_id: str, message: OutgoingMessage) -> None:
        """Ask the provider what became of one message, and settle it by the answer."""
        async with self._limit:
            found = await self.providers[message.channel].lookup(message)
        await self._db(partial(self._settle, delivery_id=delivery_id, found=found))

    def _settle(self, session: Session, *, delivery_id: str, found: LookupResult) -> None:
        recovery.settle_unknown(
            session=session,
            delivery_id=delivery_id,
            lookup=found,
            worker=self.name,
            policy=self.policy,
        )

    async def _beat(self) -> None:
        await self._db(lambda session: liveness.beat(session=session, dispatcher_id=self.name))

    async def _beat_forever(self) -> None:
        """Say this dispatcher is alive every few seconds, whatever its passes are waiting on."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._beat()
            except Exception:
                log.exception("dispatcher heartbeat failed; trying again")

    async def run_once(self) -> int:
        """One pass: send what is due, settle what is stuck, run the extra steps."""
        await self._beat()
        claimed = await self._claim()
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
        their outcomes are recorded. It beats every few seconds while it works; the claims
        of a dispatcher that stopped beating are settled by the others. On SQLite one
        dispatcher works at a time: another waits until it stops.
        """
        sole = liveness.SqliteDispatcherLock.for_engine(self.engine)
        if sole is not None and not await self._wait_for_lock(sole, stop):
            return
        try:
            gone = await self._db(
                lambda session: liveness.start(
                    session=session, dispatcher_id=self.name, alone=sole is not None
                )
            )
            if gone:
                log.info("dispatcher %s: %d dispatchers before it are gone", self.name, gone)
            await self._run(stop)
        finally:
            if sole is not None:
                sole.release()

    async def _wait_for_lock(
        self, sole: liveness.SqliteDispatcherLock, stop: asyncio.Event
    ) -> bool:
        """Take SQLite's one-dispatcher lock, waiting while another holds it; False if stopped."""
        warned = False
        while not await asyncio.to_thread(sole.try_acquire):
            if not warned:
                log.warning(
                    "another dispatcher works on this SQLite database (%s is locked); "
                    "this one waits until it stops",
                    sole.path,
                )
                warned = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.heartbeat_seconds)
            if stop.is_set():
                return False
        return True

    async def _run(self, stop: asyncio.Event) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        beating = asyncio.create_task(self._beat_forever())
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
                beating.cancel()
                try:
                    await self._db(
                        lambda session: liveness.stop(session=session, dispatcher_id=self.name)
                    )
                except Exception:
                    log.exception("could not record that dispatcher %s stopped", self.name)

    async def _pass(self, in_flight: set[asyncio.Task[None]]) -> int:
        """Claim what fits beside the sends in flight, settle what is stuck, run the steps."""
        room = self.concurrency - len(in_flight)
        claimed = await self._claim(limit=min(self.batch_size, room)) if room > 0 else []
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
            moments = [
                delivery_queue.next_due(session=session),
                *(timer(session) for timer in self.timers),
            ]
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


def _unformatted(detail: str) -> SendResult:
    return SendResult(
        outcome=Outcome.permanent,
        error=f"the message could not be formatted: {detail}"[:500],
    )
