"""The database layer: UTC timestamps on both backends, and SQLite set up for concurrency."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from service.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    UTCDateTime,
    connection_lost,
    make_engine,
    new_id,
    reader,
    transaction,
)

JST = timezone(timedelta(hours=9))

probe_metadata = MetaData()
moments = Table(
    "test_db_moments",
    probe_metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=True),
)


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    """The shared engine with a throwaway table of this module's own."""
    probe_metadata.create_all(engine)
    yield engine
    probe_metadata.drop_all(engine)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'relay.db'}")
    yield engine
    engine.dispose()


def test_timestamps_read_back_as_aware_utc(probe: Engine) -> None:
    tokyo_morning = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=JST)
    with probe.begin() as connection:
        connection.execute(insert(moments), [{"id": 1, "at": tokyo_morning}, {"id": 2, "at": None}])
    with probe.connect() as connection:
        rows = dict(connection.execute(select(moments.c.id, moments.c.at)).all())
    assert rows[1] == tokyo_morning
    assert rows[1].tzinfo is not None and rows[1].utcoffset() == timedelta(0)
    assert rows[1] == datetime(2026, 3, 2, 0, 30, 15, 123456, tzinfo=UTC)
    assert rows[2] is None


def test_timestamps_compare_in_queries_across_zones(probe: Engine) -> None:
    base = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    with probe.begin() as connection:
        connection.execute(
            insert(moments),
            [{"id": n, "at": (base + timedelta(hours=n)).astimezone(JST)} for n in range(4)],
        )
    with probe.connect() as connection:
        due = connection.execute(
            select(moments.c.id).where(moments.c.at <= base + timedelta(hours=1, minutes=30))
        )
        assert sorted(due.scalars()) == [0, 1]


def test_a_naive_timestamp_is_refused(probe: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), probe.begin() as connection:
        connection.execute(insert(moments).values(id=1, at=datetime(2026, 3, 2, 9, 30)))


def test_sqlite_is_set_up_for_concurrency(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert Path(str(sqlite_engine.url.database)).parent.name == "nested"


def test_sqlite_enforces_foreign_keys(sqlite_engine: Engine) -> None:
    metadata = MetaData()
    parent = Table("parent", metadata, Column("id", Integer, primary_key=True))
    child = Table(
        "child",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", ForeignKey(parent.c.id), nullable=False),
    )
    metadata.create_all(sqlite_engine)
    with pytest.raises(IntegrityError), sqlite_engine.begin() as connection:
        connection.execute(insert(child).values(id=1, parent_id=42))


def test_concurrent_sqlite_writers_wait_instead_of_failing(sqlite_engine: Engine) -> None:
    """Read-modify-write from several threads: BEGIN IMMEDIATE serialises them, none is lost."""
    metadata = MetaData()
    counter = Table(
        "counter",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("value", Integer, nullable=False),
    )
    metadata.create_all(sqlite_engine)
    with sqlite_engine.begin() as connection:
        connection.execute(insert(counter).values(id=1, value=0))

    writers = 4
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def increment() -> None:
        try:
            start.wait()
            with transaction(sqlite_engine) as session:
                value = session.execute(select(counter.c.value)).scalar_one()
                time.sleep(0.05)  # hold the transaction open so the writers overlap
                session.execute(update(counter).values(value=value + 1))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=increment) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    with sqlite_engine.connect() as connection:
        assert connection.execute(select(counter.c.value)).scalar_one() == writers


def test_a_failed_sqlite_write_gives_the_writer_lock_back(sqlite_engine: Engine) -> None:
    """A write that fails, or a connection closed mid-transaction, never leaves the lock held."""
    metadata = MetaData()
    keyed = Table("keyed", metadata, Column("id", Integer, primary_key=True))
    metadata.create_all(sqlite_engine)
    with sqlite_engine.begin() as connection:
        connection.execute(insert(keyed).values(id=1))

    with pytest.raises(IntegrityError), transaction(sqlite_engine) as session:
        session.execute(insert(keyed).values(id=1))
    abandoned = sqlite_engine.connect()
    abandoned.begin()
    abandoned.execute(insert(keyed).values(id=2))
    abandoned.close()  # back to the pool without a commit or a rollback of its own

    started = time.monotonic()
    with transaction(sqlite_engine) as session:
        session.execute(insert(keyed).values(id=3))
    assert time.monotonic() - started < 1.0
    with sqlite_engine.connect() as connection:
        assert connection.execute(select(keyed.c.id).order_by(keyed.c.id)).scalars().all() == [
            1,
            3,
        ]


def test_sqlite_readers_do_not_wait_for_the_writer(sqlite_engine: Engine) -> None:
    """The read-only engine reads while a write transaction is open in the same process."""
    with transaction(sqlite_engine) as writing:
        writing.execute(text("CREATE TABLE IF NOT EXISTS r (x INTEGER)"))
        started = time.monotonic()
        with reader(sqlite_engine).connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
        assert time.monotonic() - started < 1.0


def test_transaction_commits_on_success_and_rolls_back_on_error(probe: Engine) -> None:
    with transaction(probe) as session:
        session.execute(insert(moments).values(id=1, at=None))
    with pytest.raises(ValueError, match="stop"), transaction(probe) as session:
        session.execute(insert(moments).values(id=2, at=None))
        raise ValueError("stop")
    with probe.connect() as connection:
        assert list(connection.execute(select(moments.c.id)).scalars()) == [1]


def test_new_ids_are_unique_and_url_safe() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(value) == 32 and value.isalnum() for value in ids)


def test_the_engine_reaches_its_database(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_string_column_keeps_japanese(probe: Engine) -> None:
    metadata = MetaData()
    notes = Table(
        "test_db_notes", metadata, Column("id", Integer, primary_key=True), Column("body", String)
    )
    metadata.create_all(probe)
    try:
        with probe.begin() as connection:
            connection.execute(insert(notes).values(id=1, body="お電話ありがとうございます。"))
        with probe.connect() as connection:
            assert connection.execute(select(notes.c.body)).scalar_one() == (
                "お電話ありがとうございます。"
            )
    finally:
        metadata.drop_all(probe)


@pytest.mark.postgres_only
def test_a_pooled_connection_killed_while_idle_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend that went away while its connection sat in the pool costs no request."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            doomed = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        killer = make_engine(database_url)
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": doomed})
        killer.dispose()
        # Recently returned connections are handed out as they are; this one has been idle.
        monkeypatch.setattr("service.db.PING_AFTER_IDLE_SECONDS", 0.0)

        with engine.connect() as connection:
            fresh = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()

        assert fresh != doomed
    finally:
        engine.dispose()


def test_a_server_gone_or_out_of_reach_is_told_from_a_statement_it_refused() -> None:
    with pytest.raises(psycopg.OperationalError) as refused_connection:
        psycopg.connect("postgresql://postgres@127.0.0.1:1/relay", connect_timeout=5)

    def wrapped(cause: Exception, *, invalidated: bool = False) -> OperationalError:
        return OperationalError("SELECT 1", {}, cause, connection_invalidated=invalidated)

    gone = [
        refused_connection.value,
        wrapped(refused_connection.value),
        wrapped(psycopg.errors.AdminShutdown("terminating connection")),
        wrapped(psycopg.errors.CrashShutdown("terminating connection")),
        wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")),
        wrapped(psycopg.OperationalError("consuming input failed: server closed the connection")),
        wrapped(RuntimeError("closed"), invalidated=True),
    ]
    at_fault = [
        wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
        wrapped(psycopg.errors.LockNotAvailable("could not obtain lock")),
        IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")),
        wrapped(sqlite3.OperationalError("database is locked")),
        wrapped(sqlite3.OperationalError("disk I/O error")),
    ]

    assert [connection_lost(error) for error in gone] == [True] * len(gone)
    assert [connection_lost(error) for error in at_fault] == [False] * len(at_fault)
