"""Escalation timer accuracy: how late each escalation step fires, with the dispatcher busy.

Memos whose company has one escalation step (`after:` a few seconds, SMS to a second
contact) are posted at a steady rate, so that their steps fall due one after another over a
window, while more memos (5 SMS each) keep the dispatcher relaying throughout. Every SMS
goes to a local stand-in Twilio that answers after a fixed delay. Lateness is
`fired_at − due_at` from the escalation_firings table, as both were written by Relay.
The baseline, measured in the same run, is how soon the same dispatcher relays a memo's
first SMS after the memo was accepted (a wake-up by event rather than by timer).

    .venv/bin/python -m bench.escalation [--steps 500] [--rate 10] [--after 10s] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from bench import harness, seed
from bench.load import LoadResult, paced
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target

TARGET_P99_MS = 1000.0
LOAD_SMS_PER_MEMO = 5


def _firings(database_url: str) -> list[tuple[str, float]]:
    """(memo id, seconds late) of every escalation step fired."""
    from service.db import make_engine
    from service.escalation.models import EscalationFiring

    engine = make_engine(database_url)
    with Session(engine) as session:
        rows = session.exec(select(EscalationFiring)).all()
        result = [(r.memo_id, (r.fired_at - r.due_at).total_seconds()) for r in rows]
        session.commit()
    engine.dispose()
    return result


def _measure(
    database: harness.Database,
    *,
    steps: int,
    rate: float,
    after: int,
    load_rate: float,
    dispatchers: int,
    delay_ms: float,
    logdir: Path,
    import_all_models: bool = False,
) -> tuple[list[float], int, Latency, int, float]:
    """Lateness of each step, steps that never fired, the relay baseline, SMS relayed, and
    the machine's busy share over the run."""
    escalating = max(1, round(rate * 10))  # companies: keeps each number under its throttle
    load_companies = max(1, round(load_rate * 10))
    documents = [
        seed.company_document(
            slug=f"esc-{i:03d}",
            index=i,
            sms_contacts=1,
            escalation=[{"after": f"{after}s", "notify": ["c1"], "channels": ["sms"]}],
            extra_contacts=1,
        )
        for i in range(escalating)
    ] + [
        seed.company_document(slug=f"load-{i:03d}", index=300 + i, sms_contacts=LOAD_SMS_PER_MEMO)
        for i in range(load_companies)
    ]
    seed.add_companies(database.url, documents)
    headers = seed.add_operators(database.url, 10)
    window = steps / rate
    with harness.twilio_standin(logdir=logdir, delay_ms=delay_ms) as standin:
        env = harness.relay_env(database.url, RELAY_TWILIO_API_BASE=standin)
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(
                harness.relay_server(env=env, logdir=logdir, dispatcher=dispatchers == 0)
            )
            if dispatchers:
                stack.enter_context(
                    harness.relay_dispatchers(
                        env=env,
                        logdir=logdir,
                        count=dispatchers,
                        import_all_models=import_all_models,
                    )
                )
            cpu = harness.CpuSampler(database)
            cpu.sample()
            started = time.monotonic()
            escalated, _load = asyncio.run(
                _post(
                    base,
                    headers,
                    steps=steps,
                    rate=rate,
                    load_rate=load_rate,
                    load_seconds=window + after,
                    escalating=escalating,
                    load_companies=load_companies,
                )
            )
            # The last step falls due `after` s after the last memo; leave room for lateness.
            time.sleep(max(0.0, started + window + after + 1 - time.monotonic()))
            _wait_firings(database.url, {memo["id"] for _, memo in escalated.answers}, timeout=10)
            cpu.sample()
            cpu.close()
            share, _ = cpu.between(started, time.monotonic())
            relayed = harness.arrivals(standin)
    accepted = {memo["id"] for _, memo in escalated.answers}
    first_sms = {
        delivery["id"]: answered
        for answered, memo in escalated.answers
        for delivery in memo["deliveries"]
    }
    arrived = {str(a["delivery"]): float(a["at"]) for a in relayed}  # type: ignore[arg-type]
    baseline = Latency.of([arrived[d] - at for d, at in first_sms.items() if d in arrived])
    late = [seconds for memo_id, seconds in _firings(database.url) if memo_id in accepted]
    return late, len(accepted) - len(late), baseline, len(relayed), share


def _wait_firings(database_url: str, accepted: set[str], *, timeout: float) -> None:
    """Wait until every accepted memo's step fired, or `timeout` s (a loaded host is slow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fired = {memo_id for memo_id, _ in _firings(database_url)}
        if accepted <= fired:
            return
        time.sleep(0.25)


async def _post(
    base: str,
    headers: list[dict[str, str]],
    *,
    steps: int,
    rate: float,
    load_rate: float,
    load_seconds: float,
    escalating: int,
    load_companies: int,
) -> tuple[LoadResult, LoadResult]:
    def escalating_memo(serial: int) -> dict[str, Any]:
        return seed.memo_body(f"esc-{serial % escalating:03d}", serial)

    def load_memo(serial: int) -> dict[str, Any]:
        return seed.memo_body(f"load-{serial % load_companies:03d}", 100_000 + serial)

    url = f"{base}/api/v1/memos"
    escalated, load = await asyncio.gather(
        paced(url=url, headers=headers[:5], body=escalating_memo, count=steps, rate=rate),
        paced(
            url=url,
            headers=headers[5:],
            body=load_memo,
            count=int(load_rate * load_seconds),
            rate=load_rate,
        ),
    )
    for result in (escalated, load):
        if result.errors:
            raise RuntimeError(f"memos refused: {result.errors}")
    return escalated, load


def run(
    *,
    backends: list[str],
    steps: int,
    rate: float,
    after: int,
    load_rate: float,
    quiet_steps: int,
    quiet_rate: float,
    delay_ms: float,
    postgres_url: str,
    pg_dispatchers: tuple[int, ...] = (0,),
    import_all_models: bool = False,
    keep_logs: bool = False,
) -> Report:
    """Measure on each backend; the report holds every figure and target."""
    report = Report("escalation", "Escalation timer accuracy (bench.escalation)")
    # (name, steps, steps due per s, after, extra memos/s): under load, then sparse steps
    # with nothing else to wake the dispatcher.
    scenarios = [
        (
            f"under load: {steps} steps at {rate:g}/s, `after: {after}s`, "
            f"+{load_rate:g} memos/s × {LOAD_SMS_PER_MEMO} SMS",
            steps,
            rate,
            after,
            load_rate,
        )
    ]
    if quiet_steps:
        quiet_after = int(quiet_steps / quiet_rate) + 5
        scenarios.append(
            (
                f"quiet: {quiet_steps} steps at {quiet_rate:g}/s, `after: {quiet_after}s`, "
                "no memo arriving meanwhile",
                quiet_steps,
                quiet_rate,
                quiet_after,
                0.0,
            )
        )
    table = Table(
        "Escalation steps (each an SMS to a 2nd contact) falling due one after another, their "
        "memos posted at the same pace; lateness = fired_at − due_at",
        [
            "backend",
            "processes",
            "scenario",
            "measure",
            *LATENCY_HEADER,
            "never fired",
            "SMS relayed",
            "machine CPU busy",
        ],
    )
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            for dispatchers in [0] if backend == "sqlite" else list(pg_dispatchers):
                processes = (
                    "`relay serve` (its own dispatcher)"
                    if dispatchers == 0
                    else f"`relay serve --no-dispatcher` + {dispatchers} × `relay dispatcher`"
                )
                for scenario, count, per_s, delay, extra in scenarios:
                    with harness.scratch_database(
                        backend,
                        name="relay_bench_escalation",
                        workdir=work,
                        postgres_url=postgres_url,
                    ) as database:
                        if database.description not in report.backends:
                            report.backends.append(database.description)
                        late, missing, baseline, relayed, share = _measure(
                            database,
                            steps=count,
                            rate=per_s,
                            after=delay,
                            load_rate=extra,
                            dispatchers=dispatchers,
                            delay_ms=delay_ms,
                            logdir=work,
                            import_all_models=import_all_models,
                        )
                    lateness = Latency.of(late)
                    early = sum(1 for seconds in late if seconds < 0)
                    table.rows.append(
                        [
                            backend,
                            processes,
                            scenario,
                            "step fired late by",
                            *lateness.cells(),
                            str(missing),
                            str(relayed),
                            f"{share:.0%}",
                        ]
                    )
                    table.rows.append(
                        [
                            backend,
                            processes,
                            scenario,
                            "baseline: memo 201 → first SMS",
                            *baseline.cells(),
                            "",
                            "",
                            "",
                        ]
                    )
                    if missing or early:
                        report.failures.append(
                            f"{backend}, {processes}, {scenario}: {missing} of {count} steps "
                            f"never fired, {early} fired early; see the dispatchers' logs "
                            "(`--keep-logs`)"
                        )
                    report.targets.append(
                        Target(
                            f"p99 escalation lateness < {TARGET_P99_MS:.0f} ms, {backend}, "
                            f"{processes}, {scenario}",
                            lateness.p99 < TARGET_P99_MS and missing == 0 and early == 0,
                            f"p99 {lateness.p99:.1f} ms, {missing} never fired, {early} early",
                        )
                    )
    if import_all_models:
        report.notes.append(
            "`relay dispatcher` processes were started with every table model imported first "
            "(`--import-all-models`), standing in for a fix: without it they cannot save a memo "
            "(SQLAlchemy cannot resolve `memos.call_id → calls.id` in a process that never "
            "imported `service.calls.models`)."
        )
    report.tables.append(table)
    report.notes.append(
        "Escalation steps are fired by the dispatcher's pass. The quiet scenario shows a step "
        "falling due while nothing else (no new memo, no delivery) wakes the dispatcher: its "
        "lateness is the dispatcher's idle wait (an idle tick of `Dispatcher.idle_seconds`, "
        "1 s, unless it sleeps until the next known timer)."
    )
    report.notes.append(
        f"The stand-in Twilio answers after a fixed {delay_ms:g} ms. Load generator, stand-in, "
        "Relay and PostgreSQL share the machine's cores; 'machine CPU busy' counts every "
        "process on the machine, other work included."
    )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.escalation", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="steps falling due per second")
    parser.add_argument("--after", type=int, default=10, help="the step's `after:`, in seconds")
    parser.add_argument("--load-rate", type=float, default=2.0, help="extra memos/s (5 SMS each)")
    parser.add_argument(
        "--quiet-steps", type=int, default=60, help="steps of the quiet scenario (0: skip it)"
    )
    parser.add_argument("--quiet-rate", type=float, default=2.0, help="its steps due per second")
    parser.add_argument("--delay-ms", type=float, default=80.0, help="the stand-in's answer time")
    parser.add_argument(
        "--pg-dispatchers",
        default="0",
        help="comma-separated dispatcher counts on PostgreSQL; 0 = `relay serve` with its own",
    )
    harness.add_dispatcher_options(parser)
    options = parser.parse_args(argv)
    report = run(
        backends=harness.backends(options),
        steps=options.steps,
        rate=options.rate,
        after=options.after,
        load_rate=options.load_rate,
        quiet_steps=options.quiet_steps,
        quiet_rate=options.quiet_rate,
        delay_ms=options.delay_ms,
        postgres_url=options.postgres_url,
        pg_dispatchers=tuple(int(n) for n in options.pg_dispatchers.split(",")),
        import_all_models=options.import_all_models,
        keep_logs=options.keep_logs,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
