"""The one source of "now": every time-dependent part asks here, and tests replace it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests and benchmarks."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 0, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment


_current: Clock = SystemClock()


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return _current.now()


def set_clock(clock: Clock) -> Clock:
    """Install a clock; returns the previous one."""
    global _current
    previous, _current = _current, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Use a clock for the duration of a `with` block."""
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)
