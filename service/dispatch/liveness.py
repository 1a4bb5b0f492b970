"""Which dispatchers are alive: each beats while it works, so a dead one's claims are settled."""

from __future__ import annotations

import fcntl
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, insert, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from service import clock
from service.dispatch.models import DispatcherHeartbeat

log = logging.getLogger(__name__)

# A dispatcher beats this often, from a task of its own (a slow provider never delays it)...
HEARTBEAT_EVERY = timedelta(seconds=2)
# ...and one silent for this long is dead: what it had claimed is settled by the others.
DEAD_AFTER = timedelta(seconds=10)
# Rows of dispatchers dead this long are removed when another starts.
FORGET_AFTER = timedelta(days=1)


def beat(*, session: Session, dispatcher_id: str) -> None:
    """Say this dispatcher is alive now (registering it on its first beat)."""
    now = clock.now()
    moved = session.execute(
        update(DispatcherHeartbeat)
        .where(col(DispatcherHeartbeat.id) == dispatcher_id)
        .values(heartbeat_at=now)
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(
            insert(DispatcherHeartbeat).values(id=dispatcher_id, started_at=now, heartbeat_at=now)
        )


def start(*, session: Session, dispatcher_id: str, alone: bool) -> int:
    """Register a dispatcher that starts work; `alone`: no other can be alive (SQLite's lock).

    Returns how many other dispatchers were declared dead at once.
    """
    now = clock.now()
    others = delete(DispatcherHeartbeat).where(col(DispatcherHeartbeat.id) != dispatcher_id)
    if not alone:
        others = others.where(col(DispatcherHeartbeat.heartbeat_at) < now - FORGET_AFTER)
    gone = session.execute(others).rowcount  # type: ignore[attr-defined]
    beat(session=session, dispatcher_id=dispatcher_id)
    return int(gone) if alone else 0


def stop(*, session: Session, dispatcher_id: str) -> None:
    """Remove a dispatcher that stopped cleanly (it holds no claims any more)."""
    session.execute(delete(DispatcherHeartbeat).where(col(DispatcherHeartbeat.id) == dispatcher_id))


def alive(*, now: datetime) -> SelectOfScalar[str]:
    """The ids of the dispatchers that beat recently enough to be alive at `now`."""
    return select(DispatcherHeartbeat.id).where(
        col(DispatcherHeartbeat.heartbeat_at) >= now - DEAD_AFTER
    )


class SqliteDispatcherLock:
    """On SQLite one dispatcher works at a time: the one holding a lock on a file beside the
    database. The system drops the lock when its process dies, so the next one to take it
    knows every other dispatcher recorded is dead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> SqliteDispatcherLock | None:
        """The lock of a SQLite file database; None for PostgreSQL or an in-memory one."""
        if engine.dialect.name != "sqlite":
            return None
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(Path(database + "-dispatcher"))

    def try_acquire(self) -> bool:
        """Take the lock if no other dispatcher holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the next dispatcher take over."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
