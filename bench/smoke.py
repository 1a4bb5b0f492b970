"""The benchmark smoke run: every benchmark once, with tiny sizes, to prove they still run.

SQLite always; PostgreSQL too when RELAY_TEST_DATABASE_URL is set (scratch databases are
created and dropped next to it). Figures and targets are printed but mean little at these
sizes: a missed target never fails the run, a benchmark that breaks does (exit 1). Nothing
is recorded.

    .venv/bin/python -m bench.smoke
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable

from bench import (
    admin_workspace,
    console_latency,
    escalation,
    memo_intake,
    memo_search,
    purge,
    relay,
    reports,
)
from bench.report import Report


def main() -> None:
    postgres_url = os.environ.get("RELAY_TEST_DATABASE_URL", "")
    backends = ["sqlite", "postgresql"] if postgres_url else ["sqlite"]
    if not postgres_url:
        print("bench.smoke: RELAY_TEST_DATABASE_URL is not set; SQLite only")
    runs: list[tuple[str, Callable[[], Report]]] = [
        (
            "console_latency",
            lambda: console_latency.run(
                backends=backends, calls=20, gap=0.01, postgres_url=postgres_url
            ),
        ),
        (
            "memo_intake",
            lambda: memo_intake.run(
                backends=backends,
                operators=20,
                seconds=3,
                postgres_url=postgres_url,
            ),
        ),
        (
            "relay",
            lambda: relay.run(
                backends=backends,
                deliveries=20,
                memos=20,
                rate=10,
                delay_ms=80,
                postgres_url=postgres_url,
                pg_dispatchers=(1, 2),
            ),
        ),
        (
            "escalation",
            lambda: escalation.run(
                backends=backends,
                steps=20,
                rate=10,
                after=3,
                load_rate=1,
                quiet_steps=4,
                quiet_rate=2,
                delay_ms=80,
                postgres_url=postgres_url,
            ),
        ),
        (
            "admin_workspace",
            lambda: admin_workspace.run(
                backends=backends, companies=20, versions=3, requests=5, postgres_url=postgres_url
            ),
        ),
        (
            "memo_search",
            lambda: memo_search.run(
                backends=backends,
                memos=2000,
                companies=10,
                clients=3,
                requests=5,
                postgres_url=postgres_url,
            ),
        ),
        (
            "reports",
            lambda: reports.run(
                backends=backends, memos=2000, companies=10, runs=3, postgres_url=postgres_url
            ),
        ),
        (
            "purge",
            lambda: purge.run(
                backends=backends,
                memos=2000,
                companies=10,
                operators=4,
                seconds=2,
                postgres_url=postgres_url,
            ),
        ),
    ]
    broken: list[str] = []
    started = time.monotonic()
    for name, run in runs:
        began = time.monotonic()
        print(f"\n### bench.{name} (smoke sizes)", flush=True)
        try:
            report = run()
        except Exception:
            traceback.print_exc()
            broken.append(name)
        else:
            report.print()
            if report.failures:
                broken.append(name)
        print(f"### bench.{name}: {time.monotonic() - began:.0f} s", flush=True)
    print(f"\nbench.smoke: {len(runs)} benchmarks in {time.monotonic() - started:.0f} s", end="")
    if broken:
        print(f"; BROKEN: {', '.join(broken)}")
        sys.exit(1)
    print("; all ran (targets are informative at these sizes)")


if __name__ == "__main__":
    main()
