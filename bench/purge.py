"""The nightly purge of a year's expired records, and memo intake while it runs.

Writes N memos spread over M companies straight into the database, taken over the last two
years, each with one delivered message: the older half has expired under the companies'
`retention: {memo_days: 365, …}` and, but for one memo in ten still unacknowledged, is
closed. Starts `relay serve --no-dispatcher` and measures operators posting memos
(`POST /api/v1/memos`, as bench.memo_intake does) first with nothing else running, then
while `relay purge` deletes the expired memos in another process, a batch per transaction.
The target: intake's p99 during the purge within 2× of its p99 without.

    .venv/bin/python -m bench.purge [--memos 1000000] [--companies 1000] [--operators 8]
        [--seconds 20] [--backend both] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlmodel
from sqlalchemy import insert, text
from sqlmodel import Session

from bench import harness, seed
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target
from service.auth import service as auth
from service.auth.models import Role
from service.companies.models import Company
from service.db import make_engine, new_id
from service.dispatch.models import DELIVERIES
from service.memos.models import MEMOS
from service.retention.models import PurgeRun

TARGET_RATIO = 2.0
BATCH = 5000
HISTORY = timedelta(days=730)
RETENTION = {"memo_days": 365, "call_days": 365, "recording_days": 90, "caller_note_days": 730}
# One expired memo in OPEN_EVERY was never acknowledged: the purge must leave it.
OPEN_EVERY = 10
MARGIN = timedelta(days=2)
START_SECONDS = 300.0


def _rows(
    serial: int, *, company_id: str, operator_id: str, taken: datetime, closed: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    memo_id = new_id()
    memo = {
        "id": memo_id,
        "company_id": company_id,
        "company_version": 1,
        "operator_id": operator_id,
        "category": "inquiry",
        "urgency": "normal",
        "caller_name": "山田 太郎",
        "caller_phone": f"+8190{serial % 100_000_000:08d}",
        "caller_company": "山田商事株式会社",
        "subject": f"配送の遅れについて（{serial}）",
        "body": "先週注文した商品の配送がまだとのこと。折り返しのお電話が欲しいとのことです。",
        "fields": {"order_no": f"A-{serial:07d}"},
        "status": "acknowledged" if closed else "delivered",
        "ack_code": f"{serial % 100_000_000:08d}",
        "created_at": taken,
        "updated_at": taken,
        "acknowledged_at": taken + timedelta(hours=1) if closed else None,
        "acknowledged_by": "佐藤" if closed else None,
        "acknowledged_via": "link" if closed else None,
        "skipped": [],
    }
    delivery = {
        "id": new_id(),
        "memo_id": memo_id,
        "contact_key": "office",
        "channel": "email",
        "to": "office@example.jp",
        "reason": "routing",
        "status": "delivered",
        "attempts": 1,
        "due_at": taken,
        "created_at": taken,
        "updated_at": taken,
        "sent_at": taken,
        "locale": "ja",
    }
    return memo, delivery


def seed_history(database_url: str, *, memos: int, companies: int) -> tuple[list[str], int]:
    """Companies with retention and two years of memos; their slugs and how many expired
    memos are closed (what the purge should delete)."""
    slugs = [f"bench-co-{i:04d}" for i in range(companies)]
    seed.add_companies(
        database_url,
        [
            {**seed.company_document(slug=slug, index=i), "retention": RETENTION}
            for i, slug in enumerate(slugs)
        ],
    )
    engine = make_engine(database_url)
    end = datetime.now(UTC)
    expected = 0
    with Session(engine) as session:
        ids = {c.slug: c.id for c in session.exec(sqlmodel.select(Company)).all()}
        company_ids = [ids[slug] for slug in slugs]
        operator = auth.create_user(
            session=session, email="op@bench.example.jp", role=Role.operator, display_name="受付"
        )
        session.flush()
        memo_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        half = memos // 2
        with seed.search_indexed_at_the_end(session):
            for serial in range(memos):
                # The older half between two years and a year and two days ago, the newer half
                # within the last 363 days: none lies near the boundary the purge reckons.
                expired = serial < half
                if expired:
                    taken = end - HISTORY + (HISTORY / 2 - MARGIN) * (serial / max(half, 1))
                else:
                    taken = (
                        end
                        - HISTORY / 2
                        + MARGIN
                        + (HISTORY / 2 - MARGIN) * ((serial - half) / max(memos - half, 1))
                    )
                closed = not (expired and serial % OPEN_EVERY == 0)
                expected += expired and closed
                memo, delivery = _rows(
                    serial,
                    company_id=company_ids[serial % companies],
                    operator_id=operator.id,
                    taken=taken,
                    closed=closed,
                )
                memo_rows.append(memo)
                delivery_rows.append(delivery)
                if len(memo_rows) >= BATCH:
                    session.execute(insert(MEMOS), memo_rows)
                    session.execute(insert(DELIVERIES), delivery_rows)
                    memo_rows.clear()
                    delivery_rows.clear()
            if memo_rows:
                session.execute(insert(MEMOS), memo_rows)
                session.execute(insert(DELIVERIES), delivery_rows)
        session.commit()
    if engine.dialect.name == "postgresql":
        # The planner's statistics, as autovacuum soon gathers them after a bulk load. Committed:
        # an ANALYZE rolled back keeps none, and without them PostgreSQL reads every delivery
        # to find a batch's own (five times slower at a million memos).
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    engine.dispose()
    return slugs, expected


def _begun(database_url: str) -> bool:
    engine = make_engine(database_url)
    with Session(engine) as session:
        begun = session.exec(sqlmodel.select(PurgeRun.id)).first() is not None
    engine.dispose()
    return begun


def _purged(database_url: str) -> tuple[int, float]:
    """How many memos the run deleted, and how long it took from its start to its end."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        run = session.exec(sqlmodel.select(PurgeRun)).one()
    engine.dispose()
    assert run.finished_at is not None, "the purge did not finish"
    return int(run.counts.get("memos", 0)), (run.finished_at - run.started_at).total_seconds()


async def _intake(
    url: str, headers: list[dict[str, str]], slugs: list[str], until: Callable[[], bool]
) -> tuple[list[float], dict[str, int]]:
    """Operators posting memos, each as soon as its previous one was answered, until `until()`
    says stop; every answer counts, however late, so a slow one is never left out."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=len(headers), max_keepalive_connections=len(headers))
    serial = 0

    async def operator(client: httpx.AsyncClient, index: int) -> None:
        nonlocal serial
        while not until():
            serial += 1
            body = seed.memo_body(slugs[serial % len(slugs)], serial, category="inquiry")
            sent = time.monotonic()
            try:
                response = await client.post(
                    url, json=body, headers={**headers[index], "Idempotency-Key": uuid.uuid4().hex}
                )
            except httpx.HTTPError as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                continue
            if response.status_code != 201:
                kind = f"HTTP {response.status_code}: {response.text[:120]}"
                errors[kind] = errors.get(kind, 0) + 1
                continue
            latencies.append(time.monotonic() - sent)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(operator(client, i) for i in range(len(headers))))
    return latencies, errors


def _load(
    url: str, headers: list[dict[str, str]], slugs: list[str], until: Callable[[], bool]
) -> tuple[list[float], dict[str, int]]:
    return asyncio.run(_intake(url, headers, slugs, until))


@contextlib.contextmanager
def _relay_server(*, env: dict[str, str], logdir: Path) -> Iterator[str]:
    """`relay serve --no-dispatcher`, given longer than usual to start on a busy machine."""
    port = harness.free_port()
    argv = [sys.executable, "-m", "service.cli", "serve", "--no-dispatcher"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    with harness.started(harness.Child("relay", argv, env=env, logdir=logdir)) as child:
        base = f"http://127.0.0.1:{port}"
        harness.wait_http(base, child, timeout=START_SECONDS)
        yield base


def _measure(
    database: harness.Database,
    *,
    memos: int,
    companies: int,
    operators: int,
    seconds: float,
    logdir: Path,
) -> dict[str, Any]:
    began = time.monotonic()
    slugs, expected = seed_history(database.url, memos=memos, companies=companies)
    seeded = time.monotonic() - began
    headers = seed.add_operators(database.url, operators)
    env = harness.relay_env(database.url)
    with _relay_server(env=env, logdir=logdir) as base:
        url = f"{base}/api/v1/memos"
        warm = time.monotonic() + 1
        _load(url, headers[:1], slugs, lambda: time.monotonic() > warm)
        end = time.monotonic() + seconds
        quiet, errors = _load(url, headers, slugs, lambda: time.monotonic() > end)
        log = (logdir / f"purge-{database.backend}.log").open("w")
        started = time.monotonic()
        purge = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "purge"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # Intake is measured from when the run has begun, not while the command starts up.
        while purge.poll() is None and not _begun(database.url):
            time.sleep(0.2)
        # Until the purge ends; the requests in flight then are answered and count too.
        during, refused = _load(url, headers, slugs, lambda: purge.poll() is not None)
        for kind, count in refused.items():
            errors[kind] = errors.get(kind, 0) + count
        took = time.monotonic() - started
        log.close()
    deleted, purge_seconds = _purged(database.url)
    return {
        "quiet": quiet,
        "during": during,
        "errors": errors,
        "seeded": seeded,
        "process_seconds": took,
        "purge_seconds": purge_seconds,
        "purge_code": purge.returncode,
        "expected": expected,
        "deleted": deleted,
        "memos": memos,
    }


def run(
    *,
    backends: list[str],
    memos: int,
    companies: int,
    operators: int,
    seconds: float,
    postgres_url: str,
    keep_logs: bool = False,
) -> Report:
    """Seed, measure intake without and during the purge, on each backend."""
    report = Report(
        "purge",
        f"Nightly purge beside intake at {memos:,} memos across {companies:,} companies "
        "(bench.purge)",
    )
    table = Table(
        f"{memos:,} memos across {companies:,} companies, half expired; {operators} operators "
        "posting memos (closed loop) on `relay serve --no-dispatcher`, first alone for "
        f"{seconds:g} s, then for as long as `relay purge` runs",
        ["backend", "intake", "requests", *LATENCY_HEADER[1:]],
    )
    purge_table = Table(
        "The purge (`relay purge`, its own process, 200 records per transaction)",
        [
            "backend",
            "memos deleted",
            "expected",
            "run (s)",
            "memos/s",
            "process, start to exit (s)",
            "seeding (s)",
        ],
    )
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            with harness.scratch_database(
                backend, name="relay_bench_purge", workdir=work, postgres_url=postgres_url
            ) as database:
                report.backends.append(database.description)
                figures = _measure(
                    database,
                    memos=memos,
                    companies=companies,
                    operators=operators,
                    seconds=seconds,
                    logdir=work,
                )
            quiet, during = Latency.of(figures["quiet"]), Latency.of(figures["during"])
            table.rows.append([backend, "without purge", *quiet.cells()])
            table.rows.append([backend, "during purge", *during.cells()])
            took = figures["purge_seconds"]
            purge_table.rows.append(
                [
                    backend,
                    f"{figures['deleted']:,}",
                    f"{figures['expected']:,}",
                    f"{took:.1f}",
                    f"{figures['deleted'] / took:,.0f}" if took else "—",
                    f"{figures['process_seconds']:.1f}",
                    f"{figures['seeded']:.0f}",
                ]
            )
            if figures["purge_code"] != 0:
                report.failures.append(f"{backend}: relay purge exited {figures['purge_code']}")
            if figures["deleted"] != figures["expected"]:
                report.failures.append(
                    f"{backend}: the purge deleted {figures['deleted']} memos, "
                    f"{figures['expected']} expected"
                )
            if figures["errors"]:
                report.failures.append(f"{backend}: requests refused: {figures['errors']}")
            if not figures["during"]:
                report.failures.append(f"{backend}: no memo was taken while the purge ran")
            ratio = during.p99 / quiet.p99 if quiet.count and during.count else float("inf")
            report.targets.append(
                Target(
                    f"intake p99 during the purge ≤ {TARGET_RATIO:g}× without, {backend}",
                    ratio <= TARGET_RATIO,
                    f"{during.p99:.1f} ms vs {quiet.p99:.1f} ms = {ratio:.2f}×",
                )
            )
    report.tables += [table, purge_table]
    report.notes.append(
        "Each seeded memo has one delivered email; an expired memo goes with its delivery. "
        f"One expired memo in {OPEN_EVERY} was never acknowledged and stays. Client, server, "
        "purge and PostgreSQL share the machine's cores."
    )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.purge", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--memos", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--operators", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="intake alone, seconds")
    options = parser.parse_args(argv)
    report = run(
        backends=harness.backends(options),
        memos=options.memos,
        companies=options.companies,
        operators=options.operators,
        seconds=options.seconds,
        postgres_url=options.postgres_url,
        keep_logs=options.keep_logs,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
