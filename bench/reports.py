"""A company's monthly report and the bureau-wide one, with a bureau's year behind them.

Writes N memos spread over M client companies straight into the database, as a year of
intake would leave them (taken over a year, newest last, round-robin over the companies):
most acknowledged and half resolved some minutes later; each memo of the last two months
(the month reported and the one before it) with the call it came from, one delivery (one in
twenty a failed SMS, the rest a delivered email), one in ten with an escalation step fired;
callers repeat within a company, and a few are flagged. Then times
`service.reports.figures.period_report` for November 2026 (the last full month), in the
process, each run in a fresh session: a company's report, over the companies in turn, and
the bureau-wide report; and, once each, the month's statement for every company.

    .venv/bin/python -m bench.reports [--memos 1000000] [--companies 1000]
        [--runs 30] [--backend both] [--record]

Seeding a million memos takes long on a busy machine; it can be done once and timed after:

    .venv/bin/python -m bench.reports --seed-only sqlite:///reports.db [--memos …]
    .venv/bin/python -m bench.reports --seeded sqlite:///reports.db [--seeded URL] [--record]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, text
from sqlmodel import Session, SQLModel, select

from bench import admin_workspace, harness
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target
from bench.seed import search_indexed_at_the_end
from service.auth import service as auth
from service.auth.models import Role
from service.calls.models import CallerFlag
from service.companies.models import Company
from service.db import make_engine, new_id
from service.dispatch.models import DELIVERIES
from service.memos.models import MEMOS
from service.models import metadata
from service.reports.figures import period_report
from service.reports.statement import monthly_statement

COMPANY_TARGET_MS = 300.0
BUREAU_TARGET_MS = 1000.0
WARMUP = 2
BATCH = 5000
HISTORY = timedelta(days=365)
END = datetime(2026, 12, 1, tzinfo=UTC)
MONTH = date(2026, 11, 1)
# October and November, in Tokyo: the month reported and the one it is compared with.
RECENT = datetime(2026, 9, 30, 15, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")
# Each company hears from this many distinct numbers, so callers repeat within a month.
CALLERS_PER_COMPANY = 40
CALLS = SQLModel.metadata.tables["calls"]
FIRINGS = SQLModel.metadata.tables["escalation_firings"]
CATEGORIES = ["complaint", "inquiry", "inquiry", "callback", "order", "other"]


def _caller(company: int, serial: int) -> str:
    return f"+8190{company % 10_000:04d}{serial % CALLERS_PER_COMPANY:04d}"


def _rows(
    serial: int,
    *,
    company: int,
    companies: int,
    company_id: str,
    operator_id: str,
    taken: datetime,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The call, the memo and its delivery of one serial."""
    call_id, memo_id = new_id(), new_id()
    # 7 is prime to CALLERS_PER_COMPANY: the company's memos go round all its callers.
    caller = _caller(company, serial // companies * 7)
    call = {
        "id": call_id,
        "call_sid": "CA" + call_id,
        "company_id": company_id,
        "company_version": 1,
        "from_number": caller,
        "to_number": "+815010000000",
        "status": "completed",
        "source": "twilio",
        "answered_by": operator_id,
        "started_at": taken - timedelta(minutes=2),
        "updated_at": taken,
        "ended_at": taken,
    }
    acknowledged = taken + timedelta(seconds=60 + (serial * 37) % 3600) if serial % 10 else None
    resolved = taken + timedelta(seconds=600 + (serial * 53) % 86_400) if serial % 2 else None
    memo = {
        "id": memo_id,
        "company_id": company_id,
        "company_version": 1,
        "call_id": call_id,
        "operator_id": operator_id,
        "category": CATEGORIES[serial % len(CATEGORIES)],
        "urgency": "urgent" if serial % 7 == 0 else "normal",
        "caller_name": "山田 太郎",
        "caller_phone": caller,
        "subject": f"配送の遅れについて（{serial}）",
        "body": "先週注文した商品がまだ届いていないとのこと。折り返しのお電話が欲しいそうです。",
        "fields": {},
        "status": "acknowledged" if acknowledged else "delivered",
        "ack_code": f"{serial % 100_000_000:08d}",
        "created_at": taken,
        "updated_at": taken,
        "acknowledged_at": acknowledged,
        "resolved_at": resolved,
        "skipped": [],
    }
    failed = serial % 20 == 0
    delivery = {
        "id": new_id(),
        "memo_id": memo_id,
        "contact_key": "office",
        "channel": "sms" if failed else "email",
        "to": "+819012345678" if failed else "office@example.jp",
        "reason": "routing",
        "status": "failed" if failed else "delivered",
        "attempts": 1,
        "error_code": "30003" if failed else None,
        "due_at": taken,
        "created_at": taken,
        "updated_at": taken,
        "sent_at": None if failed else taken,
        "locale": "ja",
    }
    return call, memo, delivery


def seed_history(database_url: str, *, memos: int, companies: int) -> list[str]:
    """Companies and a year of their calls, memos, deliveries, firings; the companies' ids."""
    admin_workspace.seed_companies(database_url, companies=companies, versions=1)
    engine = make_engine(database_url)
    step = HISTORY / max(memos, 1)
    with Session(engine) as session:
        company_ids = [c.id for c in session.exec(select(Company).order_by(Company.slug)).all()]
        operator = auth.create_user(
            session=session, email="op@bench.example.jp", role=Role.operator, display_name="受付"
        )
        session.flush()
        calls: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        firings: list[dict[str, Any]] = []

        def flush() -> None:
            for table, batch in (
                (CALLS, calls),
                (MEMOS, rows),
                (DELIVERIES, deliveries),
                (FIRINGS, firings),
            ):
                if batch:
                    session.execute(insert(table), batch)
                    batch.clear()

        with search_indexed_at_the_end(session):
            for serial in range(memos):
                if len(rows) >= BATCH:
                    flush()
                company = serial % companies
                taken = END - HISTORY + step * serial
                call, memo, delivery = _rows(
                    serial,
                    company=company,
                    companies=companies,
                    company_id=company_ids[company],
                    operator_id=operator.id,
                    taken=taken,
                )
                rows.append(memo)
                # Calls, deliveries and firings only of the months the reports read: the rest
                # would take long to write and is never read (memos are the year, as in use).
                if taken < RECENT:
                    memo["call_id"] = None
                    continue
                calls.append(call)
                deliveries.append(delivery)
                if serial % 10 == 3:
                    firings.append(
                        {
                            "id": new_id(),
                            "memo_id": memo["id"],
                            "step": 0,
                            "action": "notify",
                            "due_at": taken + timedelta(minutes=15),
                            "fired_at": taken + timedelta(minutes=15),
                            "fired_by": "bench",
                        }
                    )
            flush()
        for company in range(0, companies, 10):
            session.add(
                CallerFlag(
                    phone=_caller(company, 0),
                    kind="harassment",
                    note="",
                    flagged_by=operator.id,
                    flagged_at=END - HISTORY,
                )
            )
        session.commit()
    _analyze(engine)
    engine.dispose()
    return company_ids


def _analyze(engine: Engine) -> None:
    # As a database that has lived a year would have its statistics.
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def _time(engine: Engine, company_id: str | None) -> float:
    with Session(engine) as session:
        started = time.monotonic()
        period_report(session=session, company_id=company_id, period="month", start=MONTH, tz=TOKYO)
        return time.monotonic() - started


def measure(report: Report, *, backend: str, url: str, runs: int, memos: int) -> None:
    """Time the month's reports (and the statement once) on a seeded database."""
    engine = make_engine(url)
    with Session(engine) as session:
        company_ids = [c.id for c in session.exec(select(Company).order_by(Company.slug)).all()]
    table = Table(
        f"{backend}: November 2026, one report at a time, in the process",
        ["report", *LATENCY_HEADER],
    )
    for name, target, ids in (
        ("a company's month", COMPANY_TARGET_MS, company_ids),
        ("the bureau's month", BUREAU_TARGET_MS, [None]),
    ):
        count = runs if ids != [None] else max(3, runs // 5)
        samples = [_time(engine, ids[(n * 37) % len(ids)]) for n in range(-WARMUP, count)]
        latency = Latency.of(samples[WARMUP:])
        table.rows.append([name, *latency.cells()])
        report.targets.append(
            Target(
                f"{backend} {name} p99 < {target:.0f} ms",
                latency.p99 < target,
                f"p99 {latency.p99:.1f} ms over {latency.count}",
            )
        )
    with Session(engine) as session:
        started = time.monotonic()
        statement = monthly_statement(session=session, month=MONTH)
        took = time.monotonic() - started
    table.rows.append(["statement, every company (once)", "1", *[f"{took * 1000:.1f}"] * 4])
    if sum(row.memos for row in statement) == 0 and memos >= len(company_ids) * 12:
        report.failures.append(f"{backend}: the statement counted no memos")
    engine.dispose()
    report.tables.append(table)
    # Wall-clock times on a shared machine: how busy it was says how much they mean.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    report.notes.append(f"{backend}: load average (1, 5, 15 min) after timing: {load}")


def run(*, backends: list[str], memos: int, companies: int, runs: int, postgres_url: str) -> Report:
    """Seed a year and time the month's reports and statement on each backend."""
    report = Report(
        benchmark="reports",
        title=f"Monthly reports at {memos:,} memos across {companies:,} companies",
    )
    with harness.workdir() as work:
        for backend in backends:
            with harness.scratch_database(
                backend, name="relay_bench_reports", workdir=work, postgres_url=postgres_url
            ) as database:
                report.backends.append(database.description)
                began = time.monotonic()
                seed_history(database.url, memos=memos, companies=companies)
                seeded = time.monotonic() - began
                measure(report, backend=backend, url=database.url, runs=runs, memos=memos)
                report.notes.append(
                    f"{backend}: seeding {memos:,} memos (with their calls and deliveries) "
                    f"across {companies:,} companies took {seeded:.1f} s"
                )
    return report


def run_seeded(*, urls: list[str], memos: int, companies: int, runs: int) -> Report:
    """Time the month's reports on databases seeded before (`--seed-only`)."""
    report = Report(
        benchmark="reports",
        title=f"Monthly reports at {memos:,} memos across {companies:,} companies",
    )
    for url in urls:
        backend = "postgresql" if url.startswith("postgresql") else "sqlite"
        report.backends.append(
            f"PostgreSQL {harness.postgres_version(url)} on 127.0.0.1 (same machine)"
            if backend == "postgresql"
            else "SQLite (file on local disk, WAL, synchronous=NORMAL)"
        )
        measure(report, backend=backend, url=url, runs=runs, memos=memos)
        report.notes.append(f"{backend}: seeded beforehand with `--seed-only`")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memos", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--seed-only", metavar="URL", help="seed this empty database (tables made), time nothing"
    )
    parser.add_argument(
        "--seeded",
        metavar="URL",
        action="append",
        default=[],
        help="time a database seeded before with --seed-only (repeatable) instead of seeding",
    )
    harness.add_common_options(parser)
    options = parser.parse_args()
    if options.seed_only:
        engine = make_engine(options.seed_only)
        metadata.create_all(engine)
        engine.dispose()
        seed_history(options.seed_only, memos=options.memos, companies=options.companies)
        return
    if options.seeded:
        report = run_seeded(
            urls=options.seeded,
            memos=options.memos,
            companies=options.companies,
            runs=options.runs,
        )
    else:
        report = run(
            backends=harness.backends(options),
            memos=options.memos,
            companies=options.companies,
            runs=options.runs,
            postgres_url=options.postgres_url,
        )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
