"""Memo intake: operators posting memos at once, against a bare one-row-insert baseline.

20 operators (20 API tokens), each posting `POST /api/v1/memos` as soon as its previous memo
was answered, for a fixed time; memos/s and latency. Every request carries a fresh
Idempotency-Key, as the console's do (the baseline gets the same headers). The server is
`relay serve --no-dispatcher`, so relaying does not compete with intake (the deliveries are
written, as always, in the memo's transaction, and wait). The baseline, measured in the same
run with the same client on the same database, is `bench/baseline_app.py`: a bare FastAPI app
under uvicorn whose one endpoint inserts one row with SQLAlchemy. Both servers run side by
side and the load alternates between them in short rounds, so that other work on the machine
weighs on both alike; the CPU each process spent per request is reported too.

    .venv/bin/python -m bench.memo_intake [--seconds 30] [--operators 20] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from bench import harness, seed
from bench.load import LoadResult, closed_loop
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target

COMPANIES = 10
TARGET_RATIO = 0.5
ROUND_SECONDS = 5.0


def _body(client: int, serial: int) -> dict[str, object]:
    category = "complaint" if serial % 3 else "inquiry"
    return seed.memo_body(f"bench-co-{abs(serial) % COMPANIES:03d}", serial, category=category)


@dataclass
class Side:
    """One app's share of the run: every round's answers and the CPU spent meanwhile."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    busy: list[float] = field(default_factory=list)

    def add(self, result: LoadResult, busy: float, cpu: dict[str, float]) -> None:
        self.latencies += result.latencies
        self.seconds += result.elapsed
        for kind, count in result.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count
        for name, seconds in cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds
        self.busy.append(busy)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def cpu_ms_per_request(self, name: str) -> float:
        return 1000 * self.cpu.get(name, 0.0) / max(1, len(self.latencies))


def _round(url: str, headers: list[dict[str, str]], seconds: float, warmup: int) -> LoadResult:
    return asyncio.run(
        closed_loop(
            url=url,
            headers=headers,
            body=_body,
            seconds=seconds,
            warmup=warmup,
            idempotency_keys=True,
        )
    )


def _measure(
    database: harness.Database, *, operators: int, seconds: float, logdir: Path
) -> tuple[Side, Side]:
    headers = seed.add_operators(database.url, operators)
    seed.add_companies(
        database.url,
        [seed.company_document(slug=f"bench-co-{i:03d}", index=i) for i in range(COMPANIES)],
    )
    env = harness.relay_env(database.url)
    relay, baseline = Side(), Side()
    rounds = max(1, round(seconds / ROUND_SECONDS))
    with contextlib.ExitStack() as stack:
        baseline_base = stack.enter_context(
            harness.uvicorn_app(
                "bench.baseline_app:app",
                env={**env, "BENCH_DATABASE_URL": database.url},
                logdir=logdir,
                name="baseline",
            )
        )
        relay_base = stack.enter_context(
            harness.relay_server(env=env, logdir=logdir, dispatcher=False, name="relay")
        )
        cpu = harness.CpuSampler(database)
        try:
            for number in range(rounds):
                for side, url in (
                    (baseline, f"{baseline_base}/rows"),
                    (relay, f"{relay_base}/api/v1/memos"),
                ):
                    warmup = 10 if number == 0 else 0
                    if warmup:
                        _round(url, headers[:1], 0.5, warmup)
                    before = cpu.sample()
                    result = _round(url, headers, seconds / rounds, 0)
                    busy, used = harness.cpu_diff(before, cpu.sample())
                    side.add(result, busy, used)
        finally:
            cpu.close()
    return relay, baseline


def run(
    *,
    backends: list[str],
    operators: int,
    seconds: float,
    postgres_url: str,
    keep_logs: bool = False,
) -> Report:
    """Measure on each backend; the report holds every figure and target."""
    report = Report("memo_intake", "Memo intake (bench.memo_intake)")
    table = Table(
        f"{operators} concurrent clients, closed loop, {seconds:g} s per app in rounds of "
        f"≤{ROUND_SECONDS:g} s alternating; relay: POST /api/v1/memos on "
        "`relay serve --no-dispatcher`; baseline: bare FastAPI + one SQLAlchemy insert",
        ["backend", "app", "requests", "per s", *LATENCY_HEADER[1:], "errors"],
    )
    cpu_table = Table(
        "CPU per request (ms), by process, during the same rounds",
        [
            "backend",
            "app",
            "server",
            "postgres (this db)¹",
            "load generator",
            "other processes (cores busy)",
            "machine CPU busy",
            "new PG connections per request",
        ],
    )
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            with harness.scratch_database(
                backend, name="relay_bench_intake", workdir=work, postgres_url=postgres_url
            ) as database:
                report.backends.append(database.description)
                relay, baseline = _measure(
                    database, operators=operators, seconds=seconds, logdir=work
                )
            for name, side, server in (
                ("relay memos", relay, "relay"),
                ("baseline rows", baseline, "baseline"),
            ):
                latency = Latency.of(side.latencies)
                errors = ", ".join(f"{k} ×{v}" for k, v in side.errors.items()) or "0"
                table.rows.append(
                    [
                        backend,
                        name,
                        str(latency.count),
                        f"{side.rate:.1f}",
                        *latency.cells()[1:],
                        errors,
                    ]
                )
                cpu_table.rows.append(
                    [
                        backend,
                        name,
                        f"{side.cpu_ms_per_request(server):.1f}",
                        f"{side.cpu_ms_per_request('postgres (this database)'):.1f}"
                        if backend == "postgresql"
                        else "—",
                        f"{side.cpu_ms_per_request('bench (load, this process)'):.1f}",
                        f"{side.cpu.get('other processes', 0) / side.seconds:.2f}",
                        f"{sum(side.busy) / len(side.busy):.0%}",
                        f"{side.cpu_ms_per_request('postgres sessions opened') / 1000:.2f}"
                        if backend == "postgresql"
                        else "—",
                    ]
                )
            for name, side in (("relay", relay), ("baseline", baseline)):
                if side.errors:
                    report.failures.append(f"{backend}, {name}: requests refused: {side.errors}")
            ratio = relay.rate / baseline.rate if baseline.rate else 0.0
            report.targets.append(
                Target(
                    f"intake ≥ {TARGET_RATIO:.0%} of the baseline's throughput, {backend}",
                    ratio >= TARGET_RATIO and not relay.errors,
                    f"{relay.rate:.1f} memos/s vs {baseline.rate:.1f} rows/s = {ratio:.0%}"
                    + (f"; errors {relay.errors}" if relay.errors else ""),
                )
            )
    report.tables += [table, cpu_table]
    report.notes.append(
        "The server runs without its dispatcher (`--no-dispatcher`): each memo's deliveries are "
        "written in its transaction and left pending. Each memo is a Japanese complaint or "
        f"inquiry to one of {COMPANIES} companies (2 email deliveries for a complaint, 1 "
        "otherwise), sent with a fresh Idempotency-Key as the console sends it, and answered "
        "with the full memo JSON."
    )
    report.notes.append(
        "Client, servers and PostgreSQL share the machine's cores. 'other processes' is how many "
        "cores, on average, the machine spent on anything else during the rounds (other work "
        "on a shared host)."
    )
    report.notes.append(
        "¹ CPU of the PostgreSQL backends connected to the benchmark's database at both ends of "
        "a round; a backend that connected and left within a round is counted under 'other'."
    )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memo_intake", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="load time per app")
    options = parser.parse_args(argv)
    report = run(
        backends=harness.backends(options),
        operators=options.operators,
        seconds=options.seconds,
        postgres_url=options.postgres_url,
        keep_logs=options.keep_logs,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
