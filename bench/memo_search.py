"""A company's memo list and search in the portal's API, with a bureau's history behind it.

Writes N memos spread over M client companies straight into the database (rows in batches,
as intake would leave them: taken over a year, newest last), gives a few companies a client
user with an API token, starts `relay serve --no-dispatcher`, and times, one request at a
time with a client user's token, each of: the first page of `GET /api/v1/memos`, the next
page (its cursor), Japanese searches that match most memos (a two-character word, which
no trigram serves, and a longer one), one that matches few, one that matches a single memo
(its subject), and a search for a caller's number as the portal shows it (`090-1234-5678`,
stored as `+819012345678`), over the client users in turn.

    .venv/bin/python -m bench.memo_search [--memos 1000000] [--companies 1000]
        [--clients 20] [--requests 200] [--backend both] [--record]

One company with a long history is `--memos 200000 --companies 1`: there a search that
matches one memo is answered from the trigram index instead of reading every memo.

With `--direct`, no server is started: each request's query is timed alone, in this process
(`list_memos` as the API calls it for the client user's company), which a busy machine
disturbs far less than a request through HTTP.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, insert, text
from sqlmodel import Session, select

from bench import admin_workspace, harness
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target
from bench.seed import search_indexed_at_the_end
from service.auth import service as auth
from service.auth.models import Role
from service.companies.models import Company
from service.db import make_engine, new_id
from service.memos.models import MEMOS
from service.memos.service import list_memos

TARGET_P99_MS = 100.0
WARMUP = 5
BATCH = 5000
# One memo in RARE_EVERY has the rare word in its subject; every memo has the common one.
RARE_EVERY = 200
COMMON_WORD = "配送"
# In every memo too, and long enough for the trigram index.
COMMON_PHRASE = "配送の遅れ"
RARE_WORD = "雨漏り"
NAMES = ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健", "伊藤 さくら"]
HISTORY = timedelta(days=365)


def caller_phone(serial: int) -> str:
    """The caller's number as stored (E.164); distinct for most memos."""
    return f"+8190{serial % 100_000_000:08d}"


def shown_phone(serial: int) -> str:
    """The same number as the portal shows it and people type it."""
    digits = f"090{serial % 100_000_000:08d}"
    return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"


def subject(serial: int, *, rare: bool) -> str:
    """A memo's subject: it names the memo's serial, so it is found in no other memo."""
    return f"{RARE_WORD}の件（{serial}）" if rare else f"{COMMON_PHRASE}について（{serial}）"


def is_rare(serial: int, *, companies: int) -> bool:
    """Whether the memo holds the rare word: one in RARE_EVERY of each company's memos."""
    return (serial // companies) % RARE_EVERY == 0


def _memo_row(
    serial: int, *, company_id: str, operator_id: str, taken: datetime, rare: bool
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "company_id": company_id,
        "company_version": 1,
        "operator_id": operator_id,
        "category": "complaint" if serial % 5 == 0 else "inquiry",
        "urgency": "urgent" if serial % 7 == 0 else "normal",
        "caller_name": NAMES[serial % len(NAMES)],
        "caller_phone": caller_phone(serial),
        "caller_company": "山田商事株式会社",
        "subject": subject(serial, rare=rare),
        "body": (
            f"先週注文した商品の{COMMON_WORD}がまだとのこと。追跡番号を確認したいので、"
            "担当の方から折り返しのお電話が欲しいとのことです。午後3時以降が都合が良いそうです。"
        ),
        "fields": {"order_no": f"A-{serial:07d}"},
        # Most memos of a year's history were acknowledged long ago; the codes of the rest
        # are distinct within their company, as intake draws them.
        "status": "acknowledged" if serial % 10 else "delivered",
        "ack_code": f"{serial % 100_000_000:08d}",
        "created_at": taken,
        "updated_at": taken,
        "skipped": [],
    }


def seed_memos(
    database_url: str, *, memos: int, companies: int, clients: int
) -> tuple[list[str], list[int], list[str]]:
    """Companies, their memos over a year and `clients` client users; the users' tokens and,
    for each, the serial of one memo of theirs (whose caller's number is searched for) and
    the id of their company."""
    token, *slugs = admin_workspace.seed_companies(database_url, companies=companies, versions=1)
    del token
    engine = make_engine(database_url)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    step = HISTORY / max(memos, 1)
    tokens: list[str] = []
    serials: list[int] = []
    their_companies: list[str] = []
    with Session(engine) as session:
        ids = {c.slug: c.id for c in session.exec(select(Company)).all()}
        company_ids = [ids[slug] for slug in slugs]
        operator = auth.create_user(
            session=session, email="op@bench.example.jp", role=Role.operator, display_name="受付"
        )
        session.flush()
        with search_indexed_at_the_end(session):
            rows: list[dict[str, Any]] = []
            for serial in range(memos):
                # Round-robin over companies, so every company's memos span the whole year.
                company_id = company_ids[serial % companies]
                rows.append(
                    _memo_row(
                        serial,
                        company_id=company_id,
                        operator_id=operator.id,
                        taken=end - HISTORY + step * serial,
                        rare=is_rare(serial, companies=companies),
                    )
                )
                if len(rows) >= BATCH:
                    session.execute(insert(MEMOS), rows)
                    rows.clear()
            if rows:
                session.execute(insert(MEMOS), rows)
        for index in range(min(clients, companies)):
            company = (index * 37) % companies
            user = auth.create_user(
                session=session,
                email=f"client{index}@bench.example.jp",
                role=Role.client,
                company_id=company_ids[company],
                display_name=f"担当{index}",
            )
            tokens.append(auth.create_api_token(session=session, user=user))
            # A memo of this company from the middle of the year.
            serials.append(company + companies * (memos // companies // 2))
            their_companies.append(company_ids[company])
        session.commit()
    if engine.dialect.name == "postgresql":
        # What autovacuum soon does after a bulk load: the planner's statistics, which it
        # needs to weigh the trigram index against a company's newest-first list, and the
        # trigram index's pending entries merged in (until then every search reads them all).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return tokens, serials, their_companies


Request = Callable[[httpx.Client, dict[str, str], int], httpx.Response]
# What a request searches for, given the serial of one of the client's memos; None: no search.
Search = Callable[[int], str] | None


def _searches(companies: int) -> list[tuple[str, Search, bool]]:
    """Each request: its name, what it searches for, and whether it is the page after the
    first (whose cursor is fetched untimed before it)."""

    def one_subject(serial: int) -> str:
        return subject(serial, rare=is_rare(serial, companies=companies))

    return [
        ("first page", None, False),
        ("next page", None, True),
        (f"q={COMMON_WORD} (most memos)", lambda s: COMMON_WORD, False),
        (f"q={COMMON_PHRASE} (most memos)", lambda s: COMMON_PHRASE, False),
        (f"q={RARE_WORD} (1 in {RARE_EVERY})", lambda s: RARE_WORD, False),
        ("q=…（n）(one memo's subject)", one_subject, False),
        ("q=090-…(one caller)", shown_phone, False),
    ]


def _request(search: Search) -> Request:
    """The API request a client user makes for `search`."""
    if search is None:
        return lambda c, h, s: c.get("/api/v1/memos", headers=h)
    return lambda c, h, s: c.get("/api/v1/memos", headers=h, params={"q": search(s)})


def _measure(
    client: httpx.Client,
    request: Request,
    tokens: list[str],
    serials: list[int],
    count: int,
    *,
    paged: bool,
) -> tuple[list[float], list[str]]:
    samples: list[float] = []
    errors: list[str] = []
    for serial in range(-WARMUP, count):
        which = serial % len(tokens)
        headers = {"Authorization": f"Bearer {tokens[which]}"}
        if paged:
            # Only the second request is timed: fetch the cursor first, untimed.
            cursor = client.get("/api/v1/memos", headers=headers).json()["next_cursor"]
            started = time.monotonic()
            response = client.get("/api/v1/memos", headers=headers, params={"cursor": cursor})
        else:
            started = time.monotonic()
            response = request(client, headers, serials[which])
        took = time.monotonic() - started
        if response.status_code != 200 or not response.json()["items"]:
            errors.append(f"{response.request.url}: {response.status_code}, nothing found")
            continue
        if serial >= 0:
            samples.append(took)
    return samples, errors


def _measure_direct(
    engine: Engine,
    search: Search,
    their_companies: list[str],
    serials: list[int],
    count: int,
    *,
    paged: bool,
) -> tuple[list[float], list[str]]:
    """As `_measure`, the query alone: `list_memos` for the client user's company."""
    samples: list[float] = []
    errors: list[str] = []
    for serial in range(-WARMUP, count):
        which = serial % len(their_companies)
        company_id = their_companies[which]
        query = search(serials[which]) if search is not None else None
        with Session(engine) as session:
            cursor = None
            if paged:
                cursor = list_memos(session=session, company_id=company_id)[1]
            started = time.monotonic()
            page, _ = list_memos(session=session, company_id=company_id, query=query, cursor=cursor)
            took = time.monotonic() - started
        if not page:
            errors.append(f"q={query!r} cursor={cursor!r}: nothing found")
            continue
        if serial >= 0:
            samples.append(took)
    return samples, errors


def run(
    *,
    backends: list[str],
    memos: int,
    companies: int,
    clients: int,
    requests: int,
    postgres_url: str,
    keep_logs: bool = False,
    direct: bool = False,
) -> Report:
    """Seed, serve and time a client user's memo list and searches on each backend; with
    `direct`, time the queries alone in this process instead."""
    report = Report(
        benchmark="memo_search",
        title=f"Memo list and search at {memos:,} memos across {companies:,} companies",
    )
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            with harness.scratch_database(
                backend, name="relay_bench_search", workdir=work, postgres_url=postgres_url
            ) as database:
                report.backends.append(database.description)
                began = time.monotonic()
                tokens, serials, their_companies = seed_memos(
                    database.url, memos=memos, companies=companies, clients=clients
                )
                seeded = time.monotonic() - began
                table = Table(
                    f"{backend}: a client user's requests, one at a time"
                    + (" (the query alone, in this process)" if direct else ""),
                    ["request", *LATENCY_HEADER],
                )
                results: list[tuple[str, tuple[list[float], list[str]]]] = []
                if direct:
                    engine = make_engine(database.url)
                    try:
                        for name, search, paged in _searches(companies):
                            found = _measure_direct(
                                engine, search, their_companies, serials, requests, paged=paged
                            )
                            results.append((name, found))
                    finally:
                        engine.dispose()
                else:
                    env = harness.relay_env(database.url)
                    with (
                        harness.relay_server(env=env, logdir=work, dispatcher=False) as base,
                        httpx.Client(base_url=base, timeout=60) as client,
                    ):
                        for name, search, paged in _searches(companies):
                            found = _measure(
                                client, _request(search), tokens, serials, requests, paged=paged
                            )
                            results.append((name, found))
                for name, (samples, errors) in results:
                    report.failures += [f"{backend} {name}: {e}" for e in errors[:3]]
                    latency = Latency.of(samples)
                    table.rows.append([name, *latency.cells()])
                    report.targets.append(
                        Target(
                            f"{backend} {name} p99 < {TARGET_P99_MS:.0f} ms",
                            latency.p99 < TARGET_P99_MS,
                            f"p99 {latency.p99:.1f} ms over {latency.count}",
                        )
                    )
                report.tables.append(table)
                report.notes.append(
                    f"{backend}: seeding {memos:,} memos across {companies:,} companies "
                    f"took {seeded:.1f} s"
                )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memos", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--direct", action="store_true", help="time the queries alone, without a server"
    )
    harness.add_common_options(parser)
    options = parser.parse_args()
    report = run(
        backends=harness.backends(options),
        memos=options.memos,
        companies=options.companies,
        clients=options.clients,
        requests=options.requests,
        postgres_url=options.postgres_url,
        keep_logs=options.keep_logs,
        direct=options.direct,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
