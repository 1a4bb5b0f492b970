"""Connections enough for every request in flight, on SQLite as on PostgreSQL."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import text

from service.db import make_engine, reader

# anyio runs at most 40 sync routes at once; the dispatcher of `relay serve` needs a few more.
IN_FLIGHT = 45


def test_a_sqlite_file_lends_a_connection_to_every_request_in_flight(tmp_path: Path) -> None:
    # With SQLAlchemy's default pool (5 + 10), the 16th waited 30 s and the request got a 500.
    engine = make_engine(f"sqlite:///{tmp_path / 'relay.db'}")
    try:
        with ExitStack() as stack:
            # Reads, as most requests are: each its own connection, none holding the writer lock.
            reads = reader(engine)
            connections = [stack.enter_context(reads.connect()) for _ in range(IN_FLIGHT)]
            answers = [c.execute(text("SELECT 1")).scalar_one() for c in connections]
        assert answers == [1] * IN_FLIGHT
    finally:
        engine.dispose()
