"""Relay: from a memo's 201 to its SMS reaching (a stand-in for) Twilio, and how many per second.

A local stand-in Twilio (bench/twilio_standin.py, answering after a fixed delay like the real
API) receives every SMS; RELAY_TWILIO_API_BASE points at it and the companies route memos by
SMS only. Two measures per configuration:

- throughput: memos holding K SMS deliveries are taken while no dispatcher runs; then the
  dispatchers start and the time until every SMS reached the stand-in gives deliveries/s;
- latency: with the dispatchers running and idle, memos are posted at a steady rate, each
  with one SMS; latency runs from the 201 of POST /api/v1/memos to the stand-in receiving
  that memo's SMS request.

Configurations: SQLite with `relay serve` (its own dispatcher); PostgreSQL with `relay serve
--no-dispatcher` and 1, then 2, `relay dispatcher` processes. The baseline, measured in the
same run, is Relay's own SMS provider sending straight to the stand-in with the dispatcher's
concurrency (16), without any database.

    .venv/bin/python -m bench.relay [--deliveries 500] [--memos 200] [--rate 10] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness, seed
from bench.load import LoadResult, closed_loop, paced
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target

TARGET_P99_MS = 250.0
TARGET_SCALING = 1.6
DISPATCHER_CONCURRENCY = 16
CONTACTS_PER_THROUGHPUT_COMPANY = 5
LATENCY_COMPANIES = 40


@dataclass
class Outcome:
    config: str
    latency: Latency
    latency_missing: int
    intake: Latency
    deliveries: int
    drain_seconds: float  # first SMS to last
    from_start_seconds: float  # dispatchers spawned to last SMS
    drain_missing: int
    duplicates: int
    cpu_share: float  # machine busy share during the drain
    cpu_used: dict[str, float]  # CPU seconds per process during the drain
    statuses: dict[str, int]  # every delivery's status in the database at the end

    @property
    def dispatcher_ms(self) -> float:
        """CPU the dispatching processes spent per delivery during the drain."""
        spent = sum(
            v for k, v in self.cpu_used.items() if k == "relay" or k.startswith("dispatcher-")
        )
        return 1000 * spent / max(1, self.deliveries)

    @property
    def postgres_ms(self) -> float:
        return 1000 * self.cpu_used.get("postgres (this database)", 0.0) / max(1, self.deliveries)

    @property
    def rate(self) -> float:
        return (self.deliveries - 1) / self.drain_seconds if self.drain_seconds > 0 else 0.0


def _sms_ids(answers: list[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    """Each SMS delivery id of the memos answered, with when its memo was answered."""
    return {
        delivery["id"]: answered
        for answered, memo in answers
        for delivery in memo["deliveries"]
        if delivery["channel"] == "sms"
    }


def _wait_arrivals(
    standin: str,
    wanted: set[str],
    *,
    timeout: float,
    cpu: harness.CpuSampler | None = None,
) -> tuple[dict[str, float], int]:
    """The arrival time of each wanted delivery (those that came) and how many came twice;
    `cpu` notes where the CPU went meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if cpu is not None:
            cpu.sample()
        seen: dict[str, float] = {}
        duplicates = 0
        for arrival in harness.arrivals(standin):
            delivery = str(arrival["delivery"])
            if delivery in wanted:
                if delivery in seen:
                    duplicates += 1
                else:
                    seen[delivery] = float(arrival["at"])  # type: ignore[arg-type]
        if len(seen) == len(wanted) or time.monotonic() > deadline:
            return seen, duplicates
        time.sleep(0.25)


def _delivery_statuses(database_url: str, *, settle: float = 10.0) -> dict[str, int]:
    """How many deliveries are in each status, once all are `sent` or `settle` s have passed
    (the last answers from the stand-in may still be being recorded)."""
    from sqlmodel import Session, func, select

    from service.db import make_engine
    from service.dispatch.models import Delivery

    engine = make_engine(database_url)
    deadline = time.monotonic() + settle
    while True:
        with Session(engine) as session:
            rows = session.exec(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            ).all()
            session.commit()
        statuses = {str(status): int(count) for status, count in rows}
        if set(statuses) <= {"sent"} or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    engine.dispose()
    return statuses


def _enqueue(base: str, headers: list[dict[str, str]], memos: int, companies: int) -> LoadResult:
    def body(client: int, serial: int) -> dict[str, Any]:
        return seed.memo_body(f"tp-{abs(serial) % companies:03d}", abs(serial))

    return asyncio.run(
        closed_loop(
            url=f"{base}/api/v1/memos",
            headers=headers,
            body=body,
            total=memos,
            keep_answers=True,
        )
    )


def _latency_phase(
    base: str, standin: str, headers: list[dict[str, str]], *, memos: int, rate: float
) -> tuple[Latency, int, Latency]:
    def body(serial: int) -> dict[str, Any]:
        return seed.memo_body(f"lat-{serial % LATENCY_COMPANIES:03d}", serial)

    result = asyncio.run(
        paced(url=f"{base}/api/v1/memos", headers=headers, body=body, count=memos, rate=rate)
    )
    if result.errors:
        raise RuntimeError(f"memos refused: {result.errors}")
    accepted = _sms_ids(result.answers)
    arrived, _ = _wait_arrivals(standin, set(accepted), timeout=30)
    latencies = [arrived[d] - accepted[d] for d in arrived]
    return Latency.of(latencies), len(accepted) - len(arrived), Latency.of(result.latencies)


def _measure(
    database: harness.Database,
    *,
    dispatchers: int,
    deliveries: int,
    memos: int,
    rate: float,
    delay_ms: float,
    logdir: Path,
    import_all_models: bool = False,
) -> Outcome:
    """One configuration: `dispatchers` = 0 means `relay serve` with its own dispatcher."""
    per_memo = CONTACTS_PER_THROUGHPUT_COMPANY
    throughput_memos = max(1, deliveries // per_memo)
    # Enough numbers that the per-number throttle (10 a minute) never holds anything back.
    throughput_companies = max(1, throughput_memos // 5)
    documents = [
        seed.company_document(slug=f"tp-{i:03d}", index=i, sms_contacts=per_memo)
        for i in range(throughput_companies)
    ] + [
        seed.company_document(slug=f"lat-{i:03d}", index=500 + i, sms_contacts=1)
        for i in range(LATENCY_COMPANIES)
    ]
    seed.add_companies(database.url, documents)
    headers = seed.add_operators(database.url, 10)
    with harness.twilio_standin(logdir=logdir, delay_ms=delay_ms) as standin:
        env = harness.relay_env(database.url, RELAY_TWILIO_API_BASE=standin)
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(
                harness.relay_server(env=env, logdir=logdir, dispatcher=False, name="relay-intake")
            )
            enqueued = _enqueue(base, headers, throughput_memos, throughput_companies)
            if enqueued.errors:
                raise RuntimeError(f"memos refused: {enqueued.errors}")
            accepted = _sms_ids(enqueued.answers)
            spawned = time.monotonic()
            if dispatchers == 0:
                stack.close()  # the same server again, now with its dispatcher
                base = stack.enter_context(
                    harness.relay_server(env=env, logdir=logdir, dispatcher=True, name="relay")
                )
            else:
                stack.enter_context(
                    harness.relay_dispatchers(
                        env=env,
                        logdir=logdir,
                        count=dispatchers,
                        import_all_models=import_all_models,
                    )
                )
            cpu = harness.CpuSampler(database)
            try:
                arrived, duplicates = _wait_arrivals(
                    standin, set(accepted), timeout=60 + len(accepted) / 5, cpu=cpu
                )
            finally:
                cpu.close()
            times = sorted(arrived.values())
            share, used = cpu.between(times[0], times[-1]) if times else (float("nan"), {})
            harness.httpx.post(f"{standin}/reset", timeout=10).raise_for_status()
            latency, missing, intake = _latency_phase(
                base, standin, headers, memos=memos, rate=rate
            )
            statuses = _delivery_statuses(database.url)
    config = (
        "`relay serve` (its own dispatcher)"
        if dispatchers == 0
        else f"`relay serve --no-dispatcher` + {dispatchers} × `relay dispatcher`"
    )
    return Outcome(
        config=config,
        latency=latency,
        latency_missing=missing,
        intake=intake,
        deliveries=len(accepted),
        drain_seconds=(times[-1] - times[0]) if len(times) > 1 else 0.0,
        from_start_seconds=(times[-1] - spawned) if times else 0.0,
        drain_missing=len(accepted) - len(arrived),
        duplicates=duplicates,
        cpu_share=share,
        cpu_used=used,
        statuses=statuses,
    )


async def _provider_baseline(standin: str, *, count: int) -> tuple[float, Latency]:
    """Relay's SMS provider alone, `DISPATCHER_CONCURRENCY` sends at a time: (per s, latency)."""
    from service.channels import Channel
    from service.providers.base import OutgoingMessage
    from service.providers.twilio.sms import TwilioSmsProvider
    from service.settings import Settings

    settings = Settings(
        database_url="sqlite:///unused.db",
        secret_key=harness.SECRET_KEY,
        public_base_url=harness.PUBLIC_BASE,
        twilio_account_sid=harness.ACCOUNT_SID,
        twilio_auth_token=harness.AUTH_TOKEN,
        twilio_sms_from=harness.SMS_FROM,
        twilio_api_base=standin,
        _env_file=None,
    )
    provider = TwilioSmsProvider.from_settings(settings=settings)
    limit = asyncio.Semaphore(DISPATCHER_CONCURRENCY)
    latencies: list[float] = []

    async def one(serial: int) -> None:
        message = OutgoingMessage(
            delivery_id=f"baseline{serial:024d}",
            channel=Channel.sms,
            to=seed.mobile_number(90_000 + serial % 100),
            text="【ベンチ】山田様より配送の遅れについてお電話がありました。確認: https://relay.example.jp/a/x",
        )
        async with limit:
            sent = time.monotonic()
            result = await provider.send(message)
            latencies.append(time.monotonic() - sent)
        if result.provider_id is None:
            raise RuntimeError(f"the stand-in refused a baseline send: {result}")

    try:
        started = time.monotonic()
        await asyncio.gather(*(one(serial) for serial in range(count)))
        elapsed = time.monotonic() - started
    finally:
        await provider.aclose()
    return count / elapsed, Latency.of(latencies)


def run(
    *,
    backends: list[str],
    deliveries: int,
    memos: int,
    rate: float,
    delay_ms: float,
    postgres_url: str,
    pg_dispatchers: tuple[int, ...] = (1, 2),
    import_all_models: bool = False,
    keep_logs: bool = False,
) -> Report:
    """Measure every configuration; the report holds every figure and target."""
    report = Report("relay", "Relay to the SMS provider (bench.relay)")
    latency_table = Table(
        f"Memo 201 → SMS request at the stand-in ({memos} memos, 1 SMS each, {rate:g} memos/s, "
        "dispatchers idle before)",
        ["backend", "processes", *LATENCY_HEADER, "missing", "memo 201 p99 ms"],
    )
    throughput_table = Table(
        f"Throughput: {deliveries} SMS deliveries ({CONTACTS_PER_THROUGHPUT_COMPANY} per memo) "
        "taken with no dispatcher running, then drained",
        [
            "backend",
            "processes",
            "deliveries",
            "first→last s",
            "deliveries/s",
            "spawn→last s",
            "missing",
            "sent twice",
            "deliveries' status at the end",
            "machine CPU busy",
            "dispatcher CPU ms/delivery",
            "postgres CPU ms/delivery¹",
            "other processes (cores busy)",
        ],
    )
    baseline_table = Table(
        f"Baseline: Relay's SMS provider straight to the stand-in, "
        f"{DISPATCHER_CONCURRENCY} at a time, no database",
        ["backend", "sends", "per s", *LATENCY_HEADER[1:]],
    )
    rates: dict[tuple[str, int], float] = {}
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            counts = [0] if backend == "sqlite" else list(pg_dispatchers)
            for dispatchers in counts:
                with (
                    harness.twilio_standin(logdir=work, delay_ms=delay_ms) as standin,
                ):
                    per_s, floor = asyncio.run(_provider_baseline(standin, count=deliveries))
                baseline_table.rows.append(
                    [
                        f"{backend}, before {dispatchers or 'the embedded'} dispatcher(s)",
                        str(floor.count),
                        f"{per_s:.1f}",
                        *floor.cells()[1:],
                    ]
                )
                with harness.scratch_database(
                    backend, name="relay_bench_relay", workdir=work, postgres_url=postgres_url
                ) as database:
                    if database.description not in report.backends:
                        report.backends.append(database.description)
                    outcome = _measure(
                        database,
                        dispatchers=dispatchers,
                        deliveries=deliveries,
                        memos=memos,
                        rate=rate,
                        delay_ms=delay_ms,
                        logdir=work,
                        import_all_models=import_all_models,
                    )
                rates[(backend, dispatchers)] = outcome.rate
                latency_table.rows.append(
                    [
                        backend,
                        outcome.config,
                        *outcome.latency.cells(),
                        str(outcome.latency_missing),
                        f"{outcome.intake.p99:.1f}",
                    ]
                )
                throughput_table.rows.append(
                    [
                        backend,
                        outcome.config,
                        str(outcome.deliveries),
                        f"{outcome.drain_seconds:.2f}",
                        f"{outcome.rate:.1f}",
                        f"{outcome.from_start_seconds:.2f}",
                        str(outcome.drain_missing),
                        str(outcome.duplicates),
                        ", ".join(f"{k} {v}" for k, v in sorted(outcome.statuses.items())),
                        f"{outcome.cpu_share:.0%}",
                        f"{outcome.dispatcher_ms:.1f}",
                        f"{outcome.postgres_ms:.1f}" if backend == "postgresql" else "—",
                        f"{outcome.cpu_used.get('other processes', 0) / outcome.drain_seconds:.2f}"
                        if outcome.drain_seconds
                        else "—",
                    ]
                )
                unsent = sum(v for k, v in outcome.statuses.items() if k != "sent")
                if unsent:
                    report.failures.append(
                        f"{backend}, {outcome.config}: {unsent} deliveries reached the stand-in "
                        "(and were answered 201) but are still not recorded as `sent` 10 s "
                        "after the run; see the dispatchers' logs (`--keep-logs`)"
                    )
                lost = outcome.latency_missing + outcome.drain_missing
                if lost or outcome.duplicates:
                    report.failures.append(
                        f"{backend}, {outcome.config}: {lost} SMS never reached the stand-in, "
                        f"{outcome.duplicates} reached it twice"
                    )
                report.targets.append(
                    Target(
                        f"p99 memo accepted → SMS request < {TARGET_P99_MS:.0f} ms, {backend}, "
                        f"{outcome.config}",
                        outcome.latency.p99 < TARGET_P99_MS and outcome.latency_missing == 0,
                        f"p99 {outcome.latency.p99:.1f} ms, {outcome.latency_missing} missing",
                    )
                )
    if ("postgresql", 1) in rates and ("postgresql", 2) in rates:
        one, two = rates[("postgresql", 1)], rates[("postgresql", 2)]
        scaling = two / one if one else 0.0
        report.targets.append(
            Target(
                f"2 dispatchers ≥ {TARGET_SCALING}× the throughput of 1, postgresql",
                scaling >= TARGET_SCALING,
                f"{two:.1f} vs {one:.1f} deliveries/s = {scaling:.2f}×",
            )
        )
    if import_all_models:
        report.notes.append(
            "`relay dispatcher` processes were started with every table model imported first "
            "(`--import-all-models`), standing in for a fix: without it they cannot save a memo "
            "(SQLAlchemy cannot resolve `memos.call_id → calls.id` in a process that never "
            "imported `service.calls.models`)."
        )
    report.tables += [latency_table, throughput_table, baseline_table]
    report.notes.append(
        f"The stand-in Twilio answers each create-message request after a fixed {delay_ms:g} ms "
        "(the real API takes tens of milliseconds); its arrival time is taken before that delay."
    )
    report.notes.append(
        "¹ CPU of the PostgreSQL backends connected to the benchmark's database at both ends of "
        "the drain. 'other processes' is how many cores, on average, the machine spent on "
        "anything else (other work on a shared host) during the drain."
    )
    report.notes.append(
        "deliveries/s = (deliveries − 1) / (first SMS → last SMS at the stand-in), so process "
        "start-up is left out; spawn→last includes it. The load generator, the stand-in, every "
        "Relay process and PostgreSQL share the machine's cores."
    )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--deliveries", type=int, default=500, help="for the throughput drain")
    parser.add_argument("--memos", type=int, default=200, help="for the latency measure")
    parser.add_argument("--rate", type=float, default=10.0, help="memos/s for the latency measure")
    parser.add_argument("--delay-ms", type=float, default=80.0, help="the stand-in's answer time")
    harness.add_dispatcher_options(parser)
    options = parser.parse_args(argv)
    report = run(
        backends=harness.backends(options),
        deliveries=options.deliveries,
        memos=options.memos,
        rate=options.rate,
        delay_ms=options.delay_ms,
        postgres_url=options.postgres_url,
        import_all_models=options.import_all_models,
        keep_logs=options.keep_logs,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
