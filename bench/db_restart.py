"""Database faults: PostgreSQL restarted, and crashed, under load.

A private PostgreSQL cluster (bench/pg_cluster.py: `initdb` into a temporary directory,
127.0.0.1 at a free port, trust authentication) holds one Relay database, migrated with
`relay db upgrade`. Companies route every memo to one contact by SMS; the stand-in Twilio
(bench/twilio_standin.py) receives them. Two `relay serve --no-dispatcher` and two `relay
dispatcher` processes run against it.

Operators post memos concurrently (`POST /api/v1/memos`, a fresh Idempotency-Key per memo),
half of them to each server, while PostgreSQL is restarted several times at seeded random
moments: `pg_ctl restart -m fast` (open sessions are ended) and `-m immediate` (a crash, with
recovery at start). An operator refused, or left without an answer, sends the same memo again
with the same key, as the console does, until it is taken. Every answer is recorded.

Checked afterwards, with counts:
- every memo answered 201 (or 200, a repeat) is in the database with its deliveries, and each
  SMS reached the stand-in exactly once;
- every other answer is a 503 in the one error shape (service/errors.py ErrorBody); any other
  status, and a connection closed or reset without an answer, is a violation;
- after each restart each server answers 201 again within `--recovery-limit` seconds of
  PostgreSQL accepting connections (the time is printed), with no process restarted;
- both dispatchers are still running and beating, and relayed the memos taken after the
  last restart (how quickly, beside those before the first, is printed).
Any violation makes the run exit 1.

    .venv/bin/python -m bench.db_restart [--restarts 4] [--operators 8]
        [--mode fast,immediate] [--seed 1] [--recovery-limit 10] [--short] [--record]
        [--keep-logs]

Without PostgreSQL's server binaries (`initdb`), or run as root with no `postgres` user to
run them as, it prints a "skipped" line and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import harness, pg_cluster, seed
from bench.report import LATENCY_HEADER, Latency, Report, Table, Target, percentile, record

DATABASE = "relay_bench_db_restart"
COMPANIES = 250  # one SMS number each: the per-number throttle (10 a minute) never holds one
THINK_SECONDS = 0.15  # an operator's pause between two memos
RETRY_SECONDS = 0.5  # before sending a refused memo again
REQUEST_TIMEOUT = 30.0
WARMUP_SECONDS = 4.0  # load before the first restart
TAIL_SECONDS = 6.0  # load after the last restart's recovery
GIVE_UP_SECONDS = 30.0  # an operator stops resending a memo this long after the load ends
STANDIN_DELAY_MS = 80.0
# A delivery claimed in a transaction whose commit was cut off may wait for its claim to lapse
# (the dispatchers' claim lifetime, 60 s) before it is settled and sent.
ARRIVAL_WAIT_SECONDS = 100.0
REFUSAL_CODES = {"unavailable", "busy"}
START_SECONDS = 120.0  # for a Relay process to start serving or dispatching
LATE_SECONDS = 30.0  # an SMS this late after its memo's 201 waited for a lapsed claim


@dataclass
class Answer:
    """One request and what came back."""

    operator: int
    server: int
    key: str
    attempt: int
    sent: float
    answered: float
    status: int | None  # None: no answer (connection refused, reset, closed, timed out)
    body: Any = None
    error: str | None = None

    @property
    def taken(self) -> bool:
        return self.status in (200, 201)

    @property
    def memo_id(self) -> str | None:
        if self.taken and isinstance(self.body, dict):
            return str(self.body.get("id"))
        return None


@dataclass
class Restart:
    number: int
    mode: str
    down: float  # pg_ctl restart issued
    back: float  # pg_ctl returned: accepting connections again
    recovery: dict[int, float | None] = field(default_factory=dict)  # by server


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    load_started: float = 0.0
    load_ended: float = 0.0


def _error_shape(body: Any) -> str | None:
    """Why `body` is not a 503 in the one error shape, or None if it is."""
    from pydantic import ValidationError

    from service.errors import ErrorBody

    try:
        parsed = ErrorBody.model_validate(body)
    except ValidationError as error:
        return f"not the error shape: {error.errors()[0]['msg']}"
    if parsed.status != 503:
        return f"status field {parsed.status}"
    if parsed.code not in REFUSAL_CODES:
        return f"code {parsed.code!r}"
    if not parsed.detail:
        return "empty detail"
    return None


async def _operator(
    *,
    index: int,
    client: httpx.AsyncClient,
    base: str,
    server: int,
    headers: dict[str, str],
    serials: Counter[str],
    run: Run,
    stop: asyncio.Event,
    give_up: asyncio.Event,
) -> None:
    """Post memos until `stop`; each one again, with its key, until it is taken."""
    while not stop.is_set():
        serials["memo"] += 1
        serial = serials["memo"]
        key = uuid.uuid4().hex
        body = seed.memo_body(f"co-{serial % COMPANIES:03d}", serial)
        attempt = 0
        while True:
            attempt += 1
            sent = time.monotonic()
            status: int | None = None
            parsed: Any = None
            error: str | None = None
            try:
                response = await client.post(
                    f"{base}/api/v1/memos",
                    json=body,
                    headers={**headers, "Idempotency-Key": key},
                )
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"[:200]
            else:
                status = response.status_code
                try:
                    parsed = response.json()
                except ValueError:
                    parsed = response.text[:300]
            answer = Answer(
                operator=index,
                server=server,
                key=key,
                attempt=attempt,
                sent=sent,
                answered=time.monotonic(),
                status=status,
                body=parsed,
                error=error,
            )
            run.answers.append(answer)
            if answer.taken or give_up.is_set():
                break
            await asyncio.sleep(RETRY_SECONDS)
        await asyncio.sleep(THINK_SECONDS)


def _recovered(run: Run, restart: Restart, server: int) -> float | None:
    """Seconds from PostgreSQL back to the server's first memo taken that was sent after."""
    taken = [
        a.answered for a in run.answers if a.server == server and a.taken and a.sent >= restart.back
    ]
    return min(taken) - restart.back if taken else None


async def _restarter(
    *,
    cluster: pg_cluster.PrivateCluster,
    modes: list[str],
    restarts: int,
    rng: random.Random,
    run: Run,
    servers: int,
    recovery_limit: float,
) -> None:
    """Restart PostgreSQL `restarts` times, each at a random moment once the last recovered."""
    await asyncio.sleep(WARMUP_SECONDS + rng.uniform(0, 2))
    for number in range(1, restarts + 1):
        mode = modes[(number - 1) % len(modes)]
        down = time.monotonic()
        await asyncio.to_thread(cluster.restart, mode)
        restart = Restart(number, mode, down, time.monotonic())
        run.restarts.append(restart)
        # Let every server recover (or the limit pass) before the next, so each is measured.
        deadline = restart.back + recovery_limit
        while time.monotonic() < deadline:
            if all(_recovered(run, restart, s) is not None for s in range(servers)):
                break
            await asyncio.sleep(0.1)
        print(
            f"  restart {number} (-m {mode}) at {down - run.load_started:.1f} s: PostgreSQL "
            f"back after {restart.back - down:.1f} s, memos taken again after "
            + ", ".join(
                "never" if (s := _recovered(run, restart, n)) is None else f"{s:.1f} s"
                for n in range(servers)
            ),
            flush=True,
        )
        await asyncio.sleep(rng.uniform(1.0, 4.0))
    await asyncio.sleep(TAIL_SECONDS)


async def _load(
    *,
    cluster: pg_cluster.PrivateCluster,
    bases: list[str],
    headers: list[dict[str, str]],
    modes: list[str],
    restarts: int,
    seed_value: int,
    recovery_limit: float,
) -> Run:
    run = Run()
    stop, give_up = asyncio.Event(), asyncio.Event()
    serials: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=len(headers), max_keepalive_connections=len(headers))
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as client:
        run.load_started = time.monotonic()
        operators = [
            asyncio.create_task(
                _operator(
                    index=index,
                    client=client,
                    base=bases[index % len(bases)],
                    server=index % len(bases),
                    headers=headers[index],
                    serials=serials,
                    run=run,
                    stop=stop,
                    give_up=give_up,
                )
            )
            for index in range(len(headers))
        ]
        try:
            await _restarter(
                cluster=cluster,
                modes=modes,
                restarts=restarts,
                rng=random.Random(seed_value),
                run=run,
                servers=len(bases),
                recovery_limit=recovery_limit,
            )
        finally:
            stop.set()
            run.load_ended = time.monotonic()
            _, pending = await asyncio.wait(operators, timeout=GIVE_UP_SECONDS)
            give_up.set()
            await asyncio.gather(*pending, return_exceptions=True)
    for restart in run.restarts:
        restart.recovery = {s: _recovered(run, restart, s) for s in range(len(bases))}
    return run


# --- what is in the database and at the stand-in afterwards ---------------------------------


@dataclass
class Found:
    memos: set[str]
    deliveries: dict[str, list[tuple[str, str, str]]]  # memo id → (id, channel, status)
    kept_keys: set[str]  # idempotency keys with a memo
    dispatchers: list[tuple[str, float]]  # id, seconds since its heartbeat


def _read_database(url: str, memo_ids: list[str], keys: list[str]) -> Found:
    import psycopg

    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as connection:
        memos = {
            str(row[0])
            for row in connection.execute(
                "SELECT id FROM memos WHERE id = ANY(%s)", (memo_ids,)
            ).fetchall()
        }
        deliveries: dict[str, list[tuple[str, str, str]]] = {}
        for delivery_id, memo_id, channel, status in connection.execute(
            "SELECT id, memo_id, channel, status FROM deliveries WHERE memo_id = ANY(%s)",
            (memo_ids,),
        ).fetchall():
            deliveries.setdefault(str(memo_id), []).append(
                (str(delivery_id), str(channel), str(status))
            )
        kept = {
            str(row[0])
            for row in connection.execute(
                "SELECT idempotency_key FROM memos WHERE idempotency_key = ANY(%s)", (keys,)
            ).fetchall()
        }
        beats = [
            (str(name), float(age))
            for name, age in connection.execute(
                "SELECT id, EXTRACT(EPOCH FROM now() - heartbeat_at) FROM dispatchers"
            ).fetchall()
        ]
    return Found(memos, deliveries, kept, beats)


def _wait_arrivals(standin: str, wanted: set[str]) -> tuple[dict[str, list[float]], float]:
    """Each wanted delivery's arrival times at the stand-in, waiting until every one came
    (or the wait ran out); and how long the wait took."""
    started = time.monotonic()
    deadline = started + ARRIVAL_WAIT_SECONDS
    while True:
        seen: dict[str, list[float]] = {}
        for arrival in harness.arrivals(standin):
            seen.setdefault(str(arrival["delivery"]), []).append(float(arrival["at"]))  # type: ignore[arg-type]
        if wanted <= set(seen) or time.monotonic() > deadline:
            return seen, time.monotonic() - started
        time.sleep(0.5)


def _log_count(child: harness.Child, needle: str) -> int:
    return child.log_text().count(needle)


# --- the run -----------------------------------------------------------------------------------


class _Phases:
    """How long each part of the run took, printed as it goes."""

    def __init__(self) -> None:
        self.began = self.last = time.monotonic()
        self.phases: list[tuple[str, float]] = []

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.phases.append((name, now - self.last))
        print(f"  [{now - self.began:5.1f} s] {name} ({now - self.last:.1f} s)", flush=True)
        self.last = now

    def total(self) -> float:
        return time.monotonic() - self.began


def _prepare_database(cluster: pg_cluster.PrivateCluster, *, workdir: Path) -> str:
    """Relay's database in the cluster, migrated as an operator would: `relay db upgrade`."""
    import psycopg

    admin = cluster.url().replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    url = cluster.url(DATABASE)
    upgrade = subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "upgrade"],
        env=harness.relay_env(url),
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=300,
    )
    if upgrade.returncode != 0:
        raise RuntimeError(f"relay db upgrade failed:\n{upgrade.stdout}{upgrade.stderr}")
    return url


@contextlib.contextmanager
def _relay_processes(
    *, env: dict[str, str], logdir: Path
) -> Iterator[tuple[list[harness.Child], list[str], list[harness.Child]]]:
    """Two `relay serve --no-dispatcher` and two `relay dispatcher`, started side by side;
    yields the servers, their base URLs and the dispatchers once all are working."""
    serve = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    ports = [harness.free_port() for _ in range(2)]
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                harness.started(
                    harness.Child(
                        f"relay-serve-{n + 1}",
                        [*serve, "--port", str(port), "--no-dispatcher"],
                        env=env,
                        logdir=logdir,
                    )
                )
            )
            for n, port in enumerate(ports)
        ]
        dispatchers = [
            stack.enter_context(
                harness.started(
                    harness.Child(
                        f"dispatcher-{n + 1}",
                        [sys.executable, "-m", "service.cli", "dispatcher"],
                        env=env,
                        logdir=logdir,
                    )
                )
            )
            for n in range(2)
        ]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        # Generous: on a busy machine four Python processes importing at once start slowly.
        for base, child in zip(bases, servers, strict=True):
            harness.wait_http(base, child, timeout=START_SECONDS)
        for child in dispatchers:
            child.wait_for_log("channel sms goes to", timeout=START_SECONDS)
        yield servers, bases, dispatchers


def run(
    *,
    restarts: int,
    operators: int,
    modes: list[str],
    seed_value: int,
    recovery_limit: float,
    keep_logs: bool,
) -> Report | None:
    """The whole benchmark; None when PostgreSQL's server binaries are not installed."""
    bindir = pg_cluster.find_bindir()
    if bindir is None:
        return None
    report = Report("db_restart", "PostgreSQL restarted under load (bench.db_restart)")
    clock = _Phases()
    with (
        harness.workdir(keep=keep_logs) as work,
        pg_cluster.private_cluster(bindir=bindir, keep=keep_logs) as cluster,
    ):
        clock.done(f"private cluster started on port {cluster.port}")
        report.backends.append(
            f"{cluster.version}, a private cluster on 127.0.0.1 (same machine), restarted "
            "by the benchmark"
        )
        url = _prepare_database(cluster, workdir=work)
        clock.done("database created and migrated (relay db upgrade)")
        seed.add_companies(
            url,
            [
                seed.company_document(slug=f"co-{i:03d}", index=i, sms_contacts=1)
                for i in range(COMPANIES)
            ],
        )
        headers = seed.add_operators(url, operators)
        clock.done(f"{COMPANIES} companies and {operators} operators seeded")
        with harness.twilio_standin(logdir=work, delay_ms=STANDIN_DELAY_MS) as standin:
            env = harness.relay_env(url, RELAY_TWILIO_API_BASE=standin)
            with _relay_processes(env=env, logdir=work) as (servers, bases, dispatchers):
                clock.done("2 × relay serve --no-dispatcher and 2 × relay dispatcher answering")
                outcome = asyncio.run(
                    _load(
                        cluster=cluster,
                        bases=bases,
                        headers=headers,
                        modes=modes,
                        restarts=restarts,
                        seed_value=seed_value,
                        recovery_limit=recovery_limit,
                    )
                )
                clock.done(f"load with {restarts} restarts")
                _check(
                    report,
                    run=outcome,
                    url=url,
                    standin=standin,
                    servers=servers,
                    dispatchers=dispatchers,
                    recovery_limit=recovery_limit,
                )
                clock.done("checks")
    clock.done("cluster stopped and removed")
    report.notes.append(
        f"The whole run took {clock.total():.0f} s: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in clock.phases)
        + "."
    )
    return report


def _check(
    report: Report,
    *,
    run: Run,
    url: str,
    standin: str,
    servers: list[harness.Child],
    dispatchers: list[harness.Child],
    recovery_limit: float,
) -> None:
    answers = run.answers
    taken = [a for a in answers if a.taken]
    memo_ids = sorted({a.memo_id for a in taken if a.memo_id})
    keys = sorted({a.key for a in answers})
    taken_keys = {a.key for a in taken}
    refused_keys = sorted(set(keys) - taken_keys)

    # What the answers were.
    kinds: Counter[str] = Counter()
    bad_shapes: Counter[str] = Counter()
    for answer in answers:
        if answer.status is None:
            kinds[f"no answer: {(answer.error or '').split(':')[0]}"] += 1
        elif answer.status == 201:
            kinds["201 taken"] += 1
        elif answer.status == 200:
            kinds["200 a repeat (taken before, by the same key)"] += 1
        elif answer.status == 503:
            problem = _error_shape(answer.body)
            code = answer.body.get("code") if isinstance(answer.body, dict) else None
            kinds[f"503 {code}" if problem is None else "503 not in the error shape"] += 1
            if problem is not None:
                bad_shapes[problem] += 1
        else:
            kinds[f"{answer.status} {str(answer.body)[:80]}"] += 1
    answers_table = Table(
        f"Every answer to POST /api/v1/memos ({len(keys)} memos, {len(answers)} requests "
        "with the retries)",
        ["answer", "count"],
        [[kind, str(count)] for kind, count in kinds.most_common()],
    )

    # Restarts and recovery.
    restarts_table = Table(
        "Restarts: PostgreSQL down → accepting again (pg_ctl -w), and each server's first memo "
        "taken among those sent after that",
        [
            "#",
            "mode",
            "at s",
            "pg_ctl s",
            *(f"{child.name} back after s" for child in servers),
            "refused, sent before back",
            "refused, sent after back¹",
            "no answer",
        ],
    )
    for index, restart in enumerate(run.restarts):
        # Until the next restart, or the end of the load.
        until = run.restarts[index + 1].down if index + 1 < len(run.restarts) else math.inf
        # Answered from this restart on: a request in flight as it began counts for it.
        mine = [a for a in answers if restart.down <= a.answered < until and not a.taken]
        during = [a for a in mine if a.sent < restart.back]
        after = [a for a in mine if a.sent >= restart.back and a.status is not None]
        around = [a for a in mine if a.status is None]
        restarts_table.rows.append(
            [
                str(restart.number),
                restart.mode,
                f"{restart.down - run.load_started:.1f}",
                f"{restart.back - restart.down:.2f}",
                *(
                    "never" if seconds is None else f"{seconds:.2f}"
                    for seconds in restart.recovery.values()
                ),
                str(sum(1 for a in during if a.status is not None)),
                str(len(after)),
                str(len(around)),
            ]
        )
        for server, seconds in restart.recovery.items():
            if seconds is None or seconds > recovery_limit:
                report.failures.append(
                    f"restart {restart.number} ({restart.mode}): {servers[server].name} took no "
                    f"memo within {recovery_limit:g} s of PostgreSQL being back"
                )
    recoveries = [s for restart in run.restarts for s in restart.recovery.values() if s is not None]
    if recoveries:
        report.targets.append(
            Target(
                f"each server takes memos again within {recovery_limit:g} s of PostgreSQL back",
                max(recoveries) <= recovery_limit
                and len(recoveries) == len(run.restarts) * len(servers),
                f"slowest {max(recoveries):.2f} s, median {percentile(recoveries, 50):.2f} s",
            )
        )

    # What the database and the stand-in hold.
    found = _read_database(url, memo_ids, keys)
    sms_ids = {
        delivery_id
        for rows in found.deliveries.values()
        for delivery_id, channel, _ in rows
        if channel == "sms"
    }
    arrivals, waited = _wait_arrivals(standin, sms_ids)
    missing_memos = [m for m in memo_ids if m not in found.memos]
    without_deliveries = [m for m in memo_ids if m in found.memos and not found.deliveries.get(m)]
    answered_deliveries = {
        d["id"]
        for a in taken
        if a.status == 201 and isinstance(a.body, dict)
        for d in a.body.get("deliveries", [])
    }
    recorded = {d for rows in found.deliveries.values() for d, _, _ in rows}
    deliveries_lost = sorted(answered_deliveries - recorded)
    never_arrived = sorted(sms_ids - set(arrivals))
    twice = sorted(d for d in sms_ids if len(arrivals.get(d, [])) > 1)
    # Read again now the SMS have arrived: the first read was before the dispatchers caught up.
    settled = _read_database(url, memo_ids, [])
    statuses = Counter(status for rows in settled.deliveries.values() for _, _, status in rows)
    refused_kept = [k for k in refused_keys if k in found.kept_keys]
    other_5xx = sum(
        1 for a in answers if a.status is not None and a.status >= 500 and a.status != 503
    )
    other_status = sum(
        1 for a in answers if a.status is not None and a.status < 500 and not a.taken
    )
    no_answer = sum(1 for a in answers if a.status is None)
    alive = [child for child in dispatchers if child.process.poll() is None]
    alive_servers = [child for child in servers if child.process.poll() is None]
    beating = [name for name, age in found.dispatchers if age < 10]

    checks = Table(
        "Checks",
        ["check", "count", "result"],
    )

    def check(name: str, count: int | str, ok: bool, failure: str | None = None) -> None:
        checks.rows.append([name, str(count), "ok" if ok else "VIOLATED"])
        if not ok:
            report.failures.append(failure or name)

    check(
        "memos taken (201, or 200 on a retry) and found in the database",
        f"{len(memo_ids) - len(missing_memos)} of {len(memo_ids)}",
        not missing_memos,
        f"{len(missing_memos)} memos answered 201/200 are not in the database "
        f"(first: {missing_memos[:3]})",
    )
    check(
        "taken memos without deliveries",
        len(without_deliveries),
        not without_deliveries,
        f"{len(without_deliveries)} taken memos have no deliveries",
    )
    check(
        "deliveries named in a 201 but not in the database",
        len(deliveries_lost),
        not deliveries_lost,
    )
    check(
        "SMS deliveries that reached the stand-in",
        f"{len(sms_ids) - len(never_arrived)} of {len(sms_ids)}",
        not never_arrived,
        f"{len(never_arrived)} SMS of taken memos never reached the stand-in "
        f"within {ARRIVAL_WAIT_SECONDS:.0f} s",
    )
    check("SMS that reached the stand-in twice", len(twice), not twice)
    check(
        "answers neither 2xx nor 503 in the error shape (other 5xx, 4xx, malformed 503)",
        other_5xx + other_status + sum(bad_shapes.values()),
        not (other_5xx or other_status or bad_shapes),
        f"{other_5xx} other 5xx, {other_status} other statuses, "
        f"{sum(bad_shapes.values())} 503s not in the shape ({dict(bad_shapes)})",
    )
    check(
        "requests closed, reset or timed out without an answer",
        no_answer,
        no_answer == 0,
        f"{no_answer} requests got no answer at all (see the table above for their kind)",
    )
    check(
        "memos never taken (still refused when the operators gave up)",
        len(refused_keys),
        not refused_keys,
    )
    check(
        "relay serve processes still running, never restarted",
        f"{len(alive_servers)} of {len(servers)}",
        len(alive_servers) == len(servers),
    )
    check(
        "relay dispatcher processes still running and beating (heartbeat < 10 s old)",
        f"{len(alive)} running, {len(beating)} beating",
        len(alive) == len(dispatchers) and len(beating) >= len(dispatchers),
    )
    if refused_kept:
        report.notes.append(
            f"{len(refused_kept)} memos refused with 503 to the end were kept all the same "
            "(the connection was lost as their commit went through): refused, not lost."
        )

    # Relaying before the first restart and after the last: the dispatchers still woken at once.
    latency_table = Table(
        "Memo 201 → its SMS at the stand-in",
        ["memos taken", *LATENCY_HEADER],
    )
    first_down = run.restarts[0].down if run.restarts else run.load_ended
    last_back = run.restarts[-1].back if run.restarts else run.load_started
    phases = {
        "before the first restart": lambda a: a.answered < first_down,
        "after the last restart was back": lambda a: a.sent >= last_back,
        "all": lambda a: True,
    }
    sms_of: dict[str, str] = {}
    for memo_id, rows in found.deliveries.items():
        for delivery_id, channel, _ in rows:
            if channel == "sms":
                sms_of[memo_id] = delivery_id
    p50s: dict[str, float] = {}
    for name, wanted in phases.items():
        delays: list[float] = []
        for answer in taken:
            if answer.status != 201 or not wanted(answer) or answer.memo_id not in sms_of:
                continue
            times = arrivals.get(sms_of[answer.memo_id])
            if times:
                delays.append(min(times) - answer.answered)
        latency = Latency.of(delays)
        p50s[name] = latency.p50
        latency_table.rows.append([name, *latency.cells()])
    # Not a check: a dispatcher no longer woken by new memos still looks every second, and on a
    # shared machine the latency moves with the other load; but worth reading beside the rest.
    before, after_last = p50s["before the first restart"], p50s["after the last restart was back"]
    if not math.isnan(after_last + before) and after_last > max(1000.0, 3 * before):
        report.notes.append(
            f"After the last restart an SMS left {after_last:.0f} ms after its memo (p50), "
            f"{before:.0f} ms before the first: see whether the machine got busier, or the "
            "dispatchers' event listener did not reconnect (their logs, `--keep-logs`)."
        )

    report.tables += [restarts_table, answers_table, checks, latency_table]
    report.notes.append(
        "¹ Requests refused (answered between this restart and the next) that were sent after "
        "`pg_ctl restart -w` returned, PostgreSQL accepting connections again: what pooled "
        "connections left dead by the restart would cost. Those sent before include the "
        "requests in flight as the restart began."
    )
    late = sum(
        1
        for answer in taken
        if answer.status == 201
        and answer.memo_id in sms_of
        and min(arrivals.get(sms_of[answer.memo_id]) or [0.0]) - answer.answered > LATE_SECONDS
    )
    if late:
        report.notes.append(
            f"{late} SMS left more than {LATE_SECONDS:g} s after their memo's 201: claimed by a "
            "dispatcher whose pass PostgreSQL then cut short (the claim committed, the step "
            "after it not), they waited for the claim to lapse (60 s) and were then settled "
            "and sent, once."
        )
    report.notes.append(
        "Deliveries' status once every SMS had arrived: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f"; the SMS wait took {waited:.1f} s. A delivery whose outcome could not be recorded "
        "while PostgreSQL was down stays `sending` until its claim lapses (60 s), then is "
        "settled by asking the provider."
    )
    traces = {child.name: _log_count(child, "Traceback") for child in [*servers, *dispatchers]}
    report.notes.append(
        "Tracebacks logged (expected while PostgreSQL is down; each process carried on): "
        + ", ".join(f"{name} {count}" for name, count in traces.items())
    )
    report.notes.append(
        f"An operator refused, or left without an answer, sent the same memo again with the "
        f"same Idempotency-Key {RETRY_SECONDS:g} s later; between memos each paused "
        f"{THINK_SECONDS:g} s. Relay processes, the stand-in Twilio ({STANDIN_DELAY_MS:g} ms per "
        "request), PostgreSQL and the load share the machine."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.db_restart", description=__doc__)
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--operators", type=int, default=8)
    parser.add_argument(
        "--mode",
        default="fast,immediate",
        help="pg_ctl shutdown modes, used in turn: fast (sessions ended), immediate (a crash)",
    )
    parser.add_argument("--seed", type=int, default=1, help="for the restarts' moments")
    parser.add_argument(
        "--recovery-limit",
        type=float,
        default=10.0,
        help="seconds within which each server must take memos again after PostgreSQL is back",
    )
    parser.add_argument("--short", action="store_true", help="2 restarts, for CI")
    parser.add_argument("--record", action="store_true", help="add the results to RESULTS.md")
    parser.add_argument("--keep-logs", action="store_true", help="keep logs and the cluster")
    options = parser.parse_args(argv)
    modes = [m.strip() for m in options.mode.split(",") if m.strip()]
    if not modes or any(m not in ("fast", "immediate") for m in modes):
        parser.error("--mode takes fast and/or immediate, separated by commas")
    restarts = 2 if options.short else options.restarts
    reason = pg_cluster.unavailable()
    if reason is not None:
        print(f"bench.db_restart: skipped: {reason}")
        return
    try:
        report = run(
            restarts=restarts,
            operators=options.operators,
            modes=modes,
            seed_value=options.seed,
            recovery_limit=options.recovery_limit,
            keep_logs=options.keep_logs,
        )
    except KeyboardInterrupt:
        print("bench.db_restart: interrupted; the processes and the cluster were stopped")
        sys.exit(130)
    if report is None:
        print(f"bench.db_restart: skipped: {pg_cluster.unavailable()}")
        return
    report.print()
    if options.record:
        record(report)
    if report.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
