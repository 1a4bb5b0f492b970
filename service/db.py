"""Engines, sessions and column types shared by every domain module."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 15_000


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite keeps no zone, so naive values are written as UTC and tagged on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


READ_ONLY = "relay_read_only"
# Set on a SQLite connection while its transaction holds this process's writer lock.
_HOLDS_WRITER = "relay_holds_writer"


def reader(engine: Engine) -> Engine:
    """The same database for short reads: on SQLite without the write lock; on PostgreSQL
    without a transaction, each statement reading on its own (no BEGIN and ROLLBACK)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{READ_ONLY: True})


def new_id() -> str:
    """A random, URL-safe primary key."""
    return uuid.uuid4().hex


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot do IMMEDIATE; take it over
    # so every transaction takes the write lock up front instead of failing on upgrade.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # SQLite has one writer at a time. Writers of this process queue for it on a lock of
    # their own, where a waiting thread sleeps until its turn, rather than in SQLite's busy
    # handler, which polls and sleeps in growing steps (costly with many request threads
    # waiting, and slow to notice the lock came free). Other processes still meet at
    # SQLite's own lock, under the busy timeout.
    writer = threading.Lock()

    def _release(holder: Any) -> None:
        # `holder`: a Connection, or the pool's record of one; both carry the same `info`.
        if holder.info.pop(_HOLDS_WRITER, False):
            writer.release()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            # In WAL mode a reader neither waits for the writer nor holds it up.
            connection.exec_driver_sql("BEGIN")
            return
        if not writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked (waited for this process's writer)")
        connection.info[_HOLDS_WRITER] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)

    # A connection given back to the pool without its transaction ended (an error while
    # committing, say) must not keep the lock.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record)


def _create_private_database(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by this user alone, if it is new.

    SQLite creates a missing file world-readable, and gives its -wal and -shm files the
    database file's mode: an empty file made here first is an empty database to SQLite.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine for a SQLite file or PostgreSQL, configured for Relay's concurrency."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            _create_private_database(Path(parsed.database))
        memory = parsed.database in (None, "", ":memory:")
        # As many connections as PostgreSQL gets: with SQLAlchemy's default (5 + 10), requests
        # beyond 15 in flight waited 30 s for a connection and were answered 500, where
        # SQLite's own busy wait answers 503.
        pool: dict[str, Any] = (
            {"poolclass": NullPool} if memory else {"pool_size": pool_size, "max_overflow": 30}
        )
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **pool,
        )
        _configure_sqlite(engine)
        return engine
    # Enough connections for the request threads in flight, so none opens a fresh backend.
    engine = create_engine(url, pool_size=pool_size, max_overflow=30)
    _ping_idle_connections(engine)
    return engine


# A pooled connection unused for longer than this is checked before it is handed out.
PING_AFTER_IDLE_SECONDS = 5.0
_RETURNED_AT = "relay_returned_at"


def _ping_idle_connections(engine: Engine) -> None:
    # SQLAlchemy's pool_pre_ping checks every checkout, a round trip each time; a request
    # checks out twice (who is asking, then its transaction) from a connection that was in
    # use a moment before. Only a connection idle for a while (a restarted server, a
    # dropped socket) is checked; one that fails is replaced before anyone uses it.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"pooled connection is gone: {error}") from error


# SQLSTATEs of a server that went away or does not take connections yet: class 08 (a
# connection exception), an administrator's or a crash's shutdown, a start still under way.
_SERVER_GONE = ("08", "57P01", "57P02", "57P03")


def connection_lost(error: BaseException) -> bool:
    """Whether a database error means PostgreSQL could not be reached or dropped the
    connection mid-way (a restart, a crash), rather than a fault of what was asked."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    cause = error.orig if isinstance(error, DBAPIError) else error
    if not type(cause).__module__.startswith("psycopg"):
        return False
    import psycopg

    if not isinstance(cause, psycopg.OperationalError):
        return False
    # libpq's own failures (connecting, a connection closed under it) carry no SQLSTATE.
    sqlstate = cause.sqlstate
    return sqlstate is None or sqlstate.startswith(_SERVER_GONE)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def str_enum(enum_type: type[StrEnum]) -> SAEnum:
    """A column type storing a StrEnum by value as plain text, read back as the enum."""
    return SAEnum(
        enum_type,
        native_enum=False,
        create_constraint=False,
        length=max(len(member.value) for member in enum_type) + 8,
        values_callable=lambda members: [member.value for member in members],
    )
