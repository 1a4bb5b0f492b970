"""The admin workspace at a bureau's size: the company list, a company page and the preview.

Seeds N client companies with V saved versions each (rows written directly, as V saves
would leave them), starts `relay serve --no-dispatcher`, and times, one request at a time
with an admin's token, each of: the company list page (`GET /admin/companies`), a search
on it, the company list in the API, one company's page and its JSON (`GET
/api/v1/clients/{slug}` with its ETag), its versions, and the preview of a sample memo
(`POST /api/v1/clients/{slug}/preview`), each over companies chosen round-robin.

    .venv/bin/python -m bench.admin_workspace [--companies 1000] [--versions 20]
        [--requests 200] [--backend both] [--record]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert
from sqlmodel import Session

from bench import harness, seed
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target
from service.auth import service as auth
from service.auth.models import Role
from service.companies.models import Company, CompanyPhoneNumber, CompanyVersion
from service.companies.validation import validate_document
from service.db import make_engine, new_id

TARGET_P99_MS = 100.0
WARMUP = 5
BATCH = 500


def _versions_of(document: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` documents, each one greeting change after the one before."""
    found = []
    for number in range(1, count + 1):
        version = copy.deepcopy(document)
        version["greeting"] = f"{document['greeting']}（第{number}版）"
        found.append(version)
    return found


def seed_companies(database_url: str, *, companies: int, versions: int) -> list[str]:
    """`companies` companies with `versions` versions each, written in batches; their slugs."""
    engine = make_engine(database_url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    slugs = []
    company_rows: list[dict[str, Any]] = []
    version_rows: list[dict[str, Any]] = []
    number_rows: list[dict[str, Any]] = []

    def flush(session: Session) -> None:
        for table, rows in (
            (Company, company_rows),
            (CompanyVersion, version_rows),
            (CompanyPhoneNumber, number_rows),
        ):
            if rows:
                session.execute(insert(table), rows)
                rows.clear()

    with Session(engine) as session:
        for index in range(companies):
            slug = f"bench-{index:05d}"
            slugs.append(slug)
            base = seed.company_document(slug=slug, index=index)
            documents = [validate_document(d).document() for d in _versions_of(base, versions)]
            company_id = new_id()
            company_rows.append(
                {
                    "id": company_id,
                    "slug": slug,
                    "name": base["name"],
                    "version": versions,
                    "config": documents[-1],
                    "updated_at": start + timedelta(minutes=index),
                }
            )
            for number, document in enumerate(documents, start=1):
                version_rows.append(
                    {
                        "company_id": company_id,
                        "version": number,
                        "config": document,
                        "changed_by": "bench@relay.example",
                        "changed_at": start + timedelta(minutes=index, seconds=number),
                        "summary": "created" if number == 1 else "greeting changed",
                        "changed": [] if number == 1 else ["greeting"],
                    }
                )
            number_rows.append({"e164": seed.company_number(index), "company_id": company_id})
            if len(version_rows) >= BATCH:
                flush(session)
        flush(session)
        session.commit()
        admin = auth.create_user(
            session=session, email="admin@bench.example.jp", role=Role.admin, display_name="管理者"
        )
        token = auth.create_api_token(session=session, user=admin)
        session.commit()
    engine.dispose()
    return [token, *slugs]


Request = Callable[[httpx.Client, str], httpx.Response]


def _requests(preview_memo: dict[str, Any]) -> list[tuple[str, Request]]:
    return [
        ("GET /admin/companies", lambda c, slug: c.get("/admin/companies")),
        (
            "GET /admin/companies?q=…",
            lambda c, slug: c.get("/admin/companies", params={"q": slug[-3:]}),
        ),
        ("GET /api/v1/clients", lambda c, slug: c.get("/api/v1/clients")),
        ("GET /admin/companies/{slug}", lambda c, slug: c.get(f"/admin/companies/{slug}")),
        ("GET /api/v1/clients/{slug}", lambda c, slug: c.get(f"/api/v1/clients/{slug}")),
        (
            "GET /api/v1/clients/{slug}/versions",
            lambda c, slug: c.get(f"/api/v1/clients/{slug}/versions"),
        ),
        (
            "POST /api/v1/clients/{slug}/preview",
            lambda c, slug: c.post(f"/api/v1/clients/{slug}/preview", json={"memo": preview_memo}),
        ),
    ]


def _measure(
    client: httpx.Client, request: Request, slugs: list[str], count: int
) -> tuple[list[float], list[str]]:
    samples: list[float] = []
    errors: list[str] = []
    for serial in range(-WARMUP, count):
        slug = slugs[(serial * 37) % len(slugs)]
        started = time.monotonic()
        response = request(client, slug)
        took = time.monotonic() - started
        if response.status_code != 200:
            errors.append(f"{response.request.url.path}: {response.status_code}")
            continue
        if serial >= 0:
            samples.append(took)
    return samples, errors


def run(
    *,
    backends: list[str],
    companies: int,
    versions: int,
    requests: int,
    postgres_url: str,
    keep_logs: bool = False,
) -> Report:
    """Seed, serve and time the workspace's pages and routes on each backend."""
    report = Report(
        benchmark="admin_workspace",
        title=f"Admin workspace at {companies:,} companies × {versions} versions",
    )
    preview_memo = {
        key: value
        for key, value in seed.memo_body("x", 1).items()
        if key not in ("client", "fields")
    }
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            with harness.scratch_database(
                backend, name="relay_bench_admin", workdir=work, postgres_url=postgres_url
            ) as database:
                report.backends.append(database.description)
                began = time.monotonic()
                token, *slugs = seed_companies(database.url, companies=companies, versions=versions)
                seeded = time.monotonic() - began
                env = harness.relay_env(database.url)
                table = Table(f"{backend}: one request at a time", ["request", *LATENCY_HEADER])
                with (
                    harness.relay_server(env=env, logdir=work, dispatcher=False) as base,
                    httpx.Client(
                        base_url=base,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=30,
                    ) as client,
                ):
                    for name, request in _requests(preview_memo):
                        samples, errors = _measure(client, request, slugs, requests)
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
                    f"{backend}: seeding {companies:,} companies and "
                    f"{companies * versions:,} versions took {seeded:.1f} s"
                )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    harness.add_common_options(parser)
    options = parser.parse_args()
    report = run(
        backends=harness.backends(options),
        companies=options.companies,
        versions=options.versions,
        requests=options.requests,
        postgres_url=options.postgres_url,
        keep_logs=options.keep_logs,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
