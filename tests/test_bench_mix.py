"""The load mix's own reckoning: locust's figures as read, relay lag, and which rate is held."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from bench.mix import (
    LAG_BOUND_S,
    LagSampler,
    RouteFigures,
    Step,
    histogram_percentile,
    rate_to_hold,
    read_figures,
)
from service.db import new_id
from service.dispatch.models import DELIVERIES


def test_percentiles_of_a_histogram_are_nearest_rank() -> None:
    times = {10: 50, 20: 30, 30: 19, 900: 1}  # ms: count, 100 requests

    assert histogram_percentile(times, 50) == 10
    assert histogram_percentile(times, 51) == 20
    assert histogram_percentile(times, 99) == 30
    assert histogram_percentile(times, 100) == 900
    assert math.isnan(histogram_percentile({}, 50))


def _figures_file(tmp_path: Path, *, raised: int) -> Path:
    # As bench/mix_users.py writes it when locust quits.
    path = tmp_path / "step.json"
    data = {
        "routes": [
            {
                "name": "POST /api/v1/memos",
                "requests": 4,
                "failures": 1,
                "max": 412.7,
                "times": {"30": 2, "40": 1, "410": 1},
            },
            {"name": "GET /portal", "requests": 2, "failures": 0, "max": 25.0, "times": {"20": 2}},
        ],
        "errors": [{"name": "POST /api/v1/memos", "error": "HTTP 500: 'boom'", "occurrences": 1}],
        "exceptions": [{"count": raised, "message": "KeyError('id')"}] if raised else [],
        "tasks": {"started": 7, "done": 5},
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_locust_figures_are_read_per_route_and_in_all(tmp_path: Path) -> None:
    figures = read_figures(_figures_file(tmp_path, raised=0), seconds=2.0)

    portal, memos = figures.routes  # by name
    assert memos == RouteFigures("POST /api/v1/memos", 4, 1, 30.0, 410.0, 412.7, 2.0)
    assert portal.p50 == 20.0 and portal.rate == 1.0
    assert figures.total == RouteFigures("all", 6, 1, 30.0, 410.0, 412.7, 3.0)
    assert figures.failure_lines == [
        "1 × POST /api/v1/memos: HTTP 500: 'boom'",
        "2 × task still unanswered when the load stopped",
    ]
    assert figures.raised == 0
    assert (figures.tasks, figures.unfinished) == (5, 2)


def test_a_task_that_raised_counts_as_a_failure(tmp_path: Path) -> None:
    figures = read_figures(_figures_file(tmp_path, raised=3), seconds=2.0)
    step = _step(2, failures=0, lag=[0.0])
    step.raised = figures.raised

    assert "3 × task raised: KeyError('id')" in figures.failure_lines
    assert step.failures == 3 and not step.clean


def _step(rate: float, *, failures: int, lag: list[float], done: float | None = None) -> Step:
    total = RouteFigures("all", 100, failures, 10.0, 50.0, 90.0, rate)
    tasks_per_s = rate if done is None else done
    return Step(rate=rate, seconds=60, total=total, lag=lag, tasks_per_s=tasks_per_s)


def test_the_rate_held_is_the_highest_without_failures_and_with_lag_bounded() -> None:
    steps = [
        _step(2, failures=0, lag=[0.0, 0.2]),
        _step(4, failures=0, lag=[0.1, 0.4]),
        _step(8, failures=1, lag=[0.1]),  # a failed request
        _step(16, failures=0, lag=[0.3, LAG_BOUND_S + 1]),  # the dispatchers fell behind
        _step(32, failures=0, lag=[0.1], done=20.0),  # answers too slow to keep the rate
    ]

    assert rate_to_hold(steps) == 4
    assert rate_to_hold(steps[2:]) is None
    # A step whose lag was never sampled proves nothing about relaying.
    assert rate_to_hold([_step(2, failures=0, lag=[])]) is None


def _delivery(status: str, due_at: datetime) -> dict[str, object]:
    return {
        "id": new_id(),
        "contact_key": "office",
        "channel": "sms",
        "to": "+819012345678",
        "reason": "routing",
        "status": status,
        "attempts": 0,
        "due_at": due_at,
        "created_at": due_at,
        "updated_at": due_at,
        "locale": "ja",
    }


def test_relay_lag_is_the_age_of_the_oldest_due_delivery_not_yet_sent(
    engine: Engine, database_url: str
) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    sampler = LagSampler(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(DELIVERIES),
                [
                    _delivery("sent", now - timedelta(seconds=300)),
                    _delivery("failed", now - timedelta(seconds=200)),
                    _delivery("pending", now + timedelta(seconds=600)),  # not due yet
                ],
            )
        assert sampler.lag(now) == 0.0

        with engine.begin() as connection:
            connection.execute(
                insert(DELIVERIES),
                [
                    _delivery("pending", now - timedelta(seconds=30)),
                    _delivery("retrying", now - timedelta(seconds=10)),
                    _delivery("sending", now - timedelta(seconds=50)),
                ],
            )
        assert sampler.lag(now) == 50.0
    finally:
        sampler.close()
