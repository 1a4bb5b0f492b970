"""Webhook to console: from Twilio's POST /twilio/voice to `call.ringing` on an open stream.

A real `relay serve` runs in a child process with Twilio configured; one operator's event
stream is open (Bearer token); signed inbound-call webhooks with distinct CallSids are sent
one after another, and each latency runs from sending the webhook to the event arriving.
On PostgreSQL the webhooks also go to a second server process while the stream is read
from the first, so each event crosses processes by LISTEN/NOTIFY.

    .venv/bin/python -m bench.console_latency [--calls 200] [--backend both] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from bench import harness, seed
from bench.events import EventStream
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target

TARGET_P99_MS = 100.0
TIMEOUT_S = 10.0
WARMUP = 10


def _call_sid(key: str, data: dict[str, Any]) -> str | None:
    return str(data.get("data", {}).get("call_sid")) if key == "call.ringing" else None


async def _floor(client: httpx.AsyncClient, base: str, count: int) -> list[float]:
    """Round trips of GET /healthz: what any request to this server costs."""
    samples = []
    for serial in range(-WARMUP, count):
        started = time.monotonic()
        response = await client.get(f"{base}/healthz")
        response.raise_for_status()
        if serial >= 0:
            samples.append(time.monotonic() - started)
    return samples


async def _calls(
    *, post_to: str, stream: EventStream, calls: int, gap: float, tag: str, warmup: int = WARMUP
) -> tuple[list[float], list[float], int]:
    """Send `calls` webhooks after `warmup` unmeasured ones (connections, caches, first
    imports); returns event latencies, webhook answer times and events that never came."""
    validator = RequestValidator(harness.AUTH_TOKEN)
    url = f"{harness.PUBLIC_BASE}/twilio/voice"
    latencies: list[float] = []
    answers: list[float] = []
    missed = 0
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        for serial in range(-warmup, calls):
            call_sid = f"CA{tag}{serial + warmup:08d}".ljust(34, "0")[:34]
            form = {
                "CallSid": call_sid,
                "AccountSid": harness.ACCOUNT_SID,
                "From": f"+8190{30_000_000 + serial + warmup:08d}",
                "To": seed.company_number(0),
                "CallStatus": "ringing",
                "Direction": "inbound",
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
            arrival = stream.expect("call.ringing", call_sid)
            sent = time.monotonic()
            response = await client.post(f"{post_to}/twilio/voice", data=form, headers=headers)
            answered = time.monotonic()
            if response.status_code != 200 or "<Dial" not in response.text:
                raise RuntimeError(
                    f"webhook answered {response.status_code}: {response.text[:200]}"
                )
            try:
                at = await asyncio.wait_for(arrival, timeout=TIMEOUT_S)
            except TimeoutError:
                missed += serial >= 0
                continue
            if serial >= 0:
                answers.append(answered - sent)
                latencies.append(at - sent)
            await asyncio.sleep(gap)
    return latencies, answers, missed


async def _measure(
    database: harness.Database, *, calls: int, gap: float, logdir: Path
) -> list[tuple[str, Latency, Latency, Latency, int]]:
    [operator] = seed.add_operators(database.url, 1)
    seed.add_companies(database.url, [seed.company_document(slug="bench-co-000", index=0)])
    env = harness.relay_env(database.url)
    rows = []
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(
            harness.relay_server(env=env, logdir=logdir, dispatcher=True, name="relay-a")
        )
        second = None
        if database.backend == "postgresql":
            second = stack.enter_context(
                harness.relay_server(env=env, logdir=logdir, dispatcher=False, name="relay-b")
            )
        async with (
            httpx.AsyncClient(timeout=TIMEOUT_S) as client,
            EventStream(base, operator, key_of=_call_sid) as stream,
        ):
            floor = Latency.of(await _floor(client, base, calls))
            latencies, answers, missed = await _calls(
                post_to=base, stream=stream, calls=calls, gap=gap, tag="A"
            )
            rows.append(
                (
                    "webhook and stream on one process",
                    Latency.of(latencies),
                    Latency.of(answers),
                    floor,
                    missed,
                )
            )
            if second is not None:
                latencies, answers, missed = await _calls(
                    post_to=second, stream=stream, calls=calls, gap=gap, tag="B"
                )
                rows.append(
                    (
                        "webhook to a 2nd process (LISTEN/NOTIFY)",
                        Latency.of(latencies),
                        Latency.of(answers),
                        floor,
                        missed,
                    )
                )
    return rows


def run(
    *, backends: list[str], calls: int, gap: float, postgres_url: str, keep_logs: bool = False
) -> Report:
    """Measure on each backend; the report holds every figure and target."""
    report = Report("console_latency", "Webhook to console latency (bench.console_latency)")
    table = Table(
        f"POST /twilio/voice → call.ringing on an open stream ({calls} calls, one at a time, "
        f"{gap * 1000:.0f} ms apart); baseline: the webhook's own answer and GET /healthz",
        ["backend", "path", "measure", *LATENCY_HEADER, "missed"],
    )
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            with harness.scratch_database(
                backend, name="relay_bench_console", workdir=work, postgres_url=postgres_url
            ) as database:
                report.backends.append(database.description)
                rows = asyncio.run(_measure(database, calls=calls, gap=gap, logdir=work))
            for path, event, answer, floor, missed in rows:
                if missed:
                    report.failures.append(
                        f"{backend}, {path}: {missed} call.ringing events never reached the stream"
                    )
                table.rows.append([backend, path, "webhook → event", *event.cells(), str(missed)])
                table.rows.append([backend, path, "webhook answered", *answer.cells(), ""])
                table.rows.append([backend, path, "GET /healthz", *floor.cells(), ""])
                report.targets.append(
                    Target(
                        f"p99 webhook → call.ringing < {TARGET_P99_MS:.0f} ms, {backend}, {path}",
                        event.p99 < TARGET_P99_MS and missed == 0,
                        f"p99 {event.p99:.1f} ms, {missed} missed",
                    )
                )
    report.tables.append(table)
    report.notes.append(
        "relay-a is `relay serve` (dispatcher included, idle); on PostgreSQL relay-b is "
        "`relay serve --no-dispatcher`. The load generator, the servers and PostgreSQL share "
        "the same cores."
    )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console_latency", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=20.0, help="pause between calls")
    options = parser.parse_args(argv)
    report = run(
        backends=harness.backends(options),
        calls=options.calls,
        gap=options.gap_ms / 1000,
        postgres_url=options.postgres_url,
        keep_logs=options.keep_logs,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
