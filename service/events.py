"""Live events for open consoles: published when a transaction commits, fanned out to streams.

On SQLite (one process) events go straight to this process's subscribers after commit.
On PostgreSQL they travel as NOTIFY inside the transaction, so every app process that
LISTENs (see `PostgresListener`) receives them once committed, and none if rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

CHANNEL = "relay_events"
EVENT_TYPES = (
    "call.ringing",
    "call.updated",
    "memo.created",
    "memo.updated",
    "task.created",
    "task.updated",
)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]

    def encode(self) -> str:
        return json.dumps({"type": self.type, "data": self.data}, ensure_ascii=False)

    @classmethod
    def decode(cls, payload: str) -> Event:
        raw = json.loads(payload)
        return cls(type=str(raw["type"]), data=dict(raw["data"]))


class Broker:
    """This process's subscribers; safe to publish to from any thread."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self._queue_size = queue_size

    def publish(self, event: Event) -> None:
        """Hand an event to every subscriber; a subscriber too slow to keep up drops it."""
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            with contextlib.suppress(RuntimeError):  # the subscriber's loop has closed
                loop.call_soon_threadsafe(_offer, queue, event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue that receives every event published while the block runs."""
        entry = (asyncio.get_running_loop(), asyncio.Queue[Event](self._queue_size))
        with self._lock:
            self._subscribers.add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._subscribers.discard(entry)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _offer(queue: asyncio.Queue[Event], event: Event) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(event)


broker = Broker()
# Built once: every change a console shows sends one.
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def emit(*, session: Session, type: str, data: dict[str, Any]) -> None:
    """Publish an event when the session's transaction commits (never if it rolls back)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type}")
    payload = Event(type=type, data=data)
    connection = session.connection()  # the event belongs to this transaction: begin one
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload.encode()})
        return
    if "relay_events" not in session.info:
        session.info["relay_events"] = []
        sa_event.listen(session, "after_commit", _publish_pending)
        sa_event.listen(session, "after_soft_rollback", _drop_pending)
    session.info["relay_events"].append(payload)


def _publish_pending(session: Session) -> None:
    pending: list[Event] = session.info.get("relay_events", [])
    for item in pending:
        broker.publish(item)
    pending.clear()


def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    # A savepoint rolled back leaves the outer transaction, and its events, standing.
    if not previous_transaction.nested:
        session.info.get("relay_events", []).clear()


def _libpq_url(sqlalchemy_url: str) -> str:
    scheme, _, rest = sqlalchemy_url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgresql") else sqlalchemy_url


class PostgresListener:
    """LISTENs on PostgreSQL and republishes every committed event to this process's broker."""

    def __init__(self, *, database_url: str, target: Broker = broker) -> None:
        self._url = _libpq_url(database_url)
        self._target = target
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relay-pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    async for notice in connection.notifies():
                        try:
                            self._target.publish(Event.decode(notice.payload))
                        except (ValueError, KeyError):
                            log.warning("ignored a malformed event: %r", notice.payload[:200])
            except asyncio.CancelledError:
                raise
            except Exception:
                self.ready.clear()
                log.exception("event listener lost its connection; reconnecting")
                await asyncio.sleep(1.0)
