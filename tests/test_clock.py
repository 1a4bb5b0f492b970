"""The one clock: system time by default, a manual clock in tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from service import clock
from service.clock import ManualClock, SystemClock, set_clock, use_clock

JST = timezone(timedelta(hours=9))


def test_system_time_is_aware_utc() -> None:
    before = time.time()
    now = clock.now()
    after = time.time()
    assert now.utcoffset() == timedelta(0)
    assert before - 1 <= now.timestamp() <= after + 1


def test_a_manual_clock_only_moves_when_told() -> None:
    manual = ManualClock(datetime(2026, 4, 1, 9, 0, tzinfo=JST))
    start = manual.now()
    assert manual.now() == start
    manual.advance(timedelta(minutes=15))
    assert manual.now() - start == timedelta(minutes=15)
    manual.set(datetime(2026, 4, 2, tzinfo=UTC))
    assert manual.now() == datetime(2026, 4, 2, tzinfo=UTC)


def test_a_manual_clock_starts_aware() -> None:
    assert ManualClock().now().tzinfo is not None


def test_use_clock_installs_and_restores() -> None:
    manual = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
    with use_clock(manual):
        assert clock.now() == datetime(2026, 1, 5, tzinfo=UTC)
        manual.advance(timedelta(hours=2))
        assert clock.now() == datetime(2026, 1, 5, 2, tzinfo=UTC)
    assert clock.now() != datetime(2026, 1, 5, 2, tzinfo=UTC)
    assert clock.now().year >= 2025


def test_use_clock_restores_after_an_error() -> None:
    manual = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(RuntimeError), use_clock(manual):
        raise RuntimeError("boom")
    assert clock.now() != manual.now()


def test_set_clock_returns_the_previous_one() -> None:
    manual = ManualClock()
    previous = set_clock(manual)
    try:
        assert isinstance(previous, SystemClock)
        assert clock.now() == manual.now()
    finally:
        assert set_clock(previous) is manual


def test_the_clock_fixture_controls_now(clock: ManualClock) -> None:
    from service import clock as clock_module

    before = clock_module.now()
    clock.advance(timedelta(minutes=45))
    assert clock_module.now() - before == timedelta(minutes=45)
