"""A bureau's day as load: every kind of request Relay serves, at fixed rates that double.

The mix (weights of bench/mix_users.py, per 100 tasks), as an answering bureau's day has it:

- 20 calls ringing: a signed `POST /twilio/voice` to a company's number (the call is recorded
  and shown on every operator console);
- 15 memos taken: `POST /api/v1/memos` by an operator, with an Idempotency-Key, on one of the
  calls that rang when there is one (most calls end in a memo);
- 50 reads by the client companies' users (Bearer tokens): the portal page (12) and a memo on
  it (3), the API's memo list (10) and one memo (12), searches in Japanese (8) and for a
  caller's number typed as people type it, `090-1234-5678` (5);
- 15 acknowledgements, about one per memo: the link of an SMS Relay sent, as the contact
  taps it (`GET` then `POST /a/<token>`, read from what the stand-in Twilio received) (8),
  the client's own `POST /api/v1/memos/{id}/ack` (2), a Slack button pressed (3, a signed
  `POST /hooks/slack` interaction) and a LINE postback (2, a signed `POST /hooks/line`).

Companies route every memo by SMS (to the stand-in Twilio, which answers after 80 ms) and by
email (the dev outbox), so memos really relay while the load runs. Chat messages are not sent
(there is no chat stand-in): each company names a Slack channel and a LINE user, and a button's
token is the one Relay puts on the message, made with the same key.

Rates are tasks per second at a fixed arrival rate: locust users with `constant_throughput`
(rate = users × throughput per user, 0.5 tasks/s each so a user can wait up to 2 s for an
answer without slowing the rate). Each step runs one locust process (bench/mix_users.py,
headless, its CSV parsed here) for `--step-seconds`. At each step: requests, failures, p50
and p99 per route; relay lag, the age of the oldest delivery that is due and not yet sent
(pending, retrying or being sent with `due_at` passed), sampled from the database every
second; the resident memory (VmRSS) of every Relay process at the start and end of the step.
The highest rate that kept up (tasks finished at 90% of the rate or more), with no failed
request and relay lag bounded (its maximum under LAG_BOUND_S, 5 s), is then held for
`--hold-seconds` and reported the same way. A failed request is an unexpected status, a task
that raised, or a task still unanswered 30 s after the load stopped (`--stop-timeout`: the
slow answers at the end of a step are waited for and counted). The first user does every
task once when it starts, so even a short run sends every kind of request.

SQLite: one `relay serve` (its own dispatcher). PostgreSQL: two `relay serve --no-dispatcher`
and two `relay dispatcher`, the users spread over the two app servers.

    .venv/bin/python -m bench.mix [--backend both] [--rates 2,4,8,16] [--step-seconds 60]
        [--hold-seconds 300] [--short] [--record] [--keep-logs]

`--short` (continuous integration): rates 2 and 4 for 6 s each and a hold of 6 s on both
backends; it exits 1 when any request failed. Most of its time goes to starting Relay and
locust: under two minutes on a quiet 2-core machine is the aim.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from bench import harness, seed
from bench.report import REPO_DIR, Report, Table, Target, command_line, percentile, record
from service.auth import service as auth
from service.auth.models import Role
from service.companies.models import Company
from service.db import make_engine, new_id, reader
from service.dispatch.models import Delivery, DeliveryStatus
from service.memos.models import MEMOS

THROUGHPUT_PER_USER = 0.5  # tasks/s each locust user starts
LAG_BOUND_S = 5.0  # relay lag above this means the dispatchers fall behind the intake
KEPT_UP = 0.9  # a step whose tasks/s fell below this share of its rate did not keep up
STOP_TIMEOUT_S = 30.0  # how long a stopping user waits for its answer
STANDIN_DELAY_MS = 80.0
OPERATORS = 10
CONSOLES_PER_APP = 3  # operators on duty with the console open, per app server
CALLERS = 5000  # distinct caller numbers, shared by the history and new memos
CALLER_BASE = 20_000_000  # the first, 090-2000-0000 (090-0000-… is no number in use)
SLACK_SIGNING_SECRET = "bench-slack-signing-secret"  # noqa: S105 - signs local requests only
LINE_CHANNEL_SECRET = "bench-line-channel-secret"  # noqa: S105 - signs local requests only
SLACK_CHANNEL = "C0BENCH01"
SLACK_KEY = "ops"
LINE_KEY = "owner"
UNSENT = (DeliveryStatus.pending, DeliveryStatus.retrying, DeliveryStatus.sending)


# --- the companies and their history --------------------------------------------------------


def company_document(index: int) -> dict[str, Any]:
    """A company that relays every memo by SMS and email, with a Slack channel and a LINE
    user named for their buttons; three SMS contacts share the categories, so no contact's
    number meets the dispatcher's throttle (10 SMS a minute) before the machine runs out."""
    document = seed.company_document(slug=f"mix-{index:03d}", index=index)
    contacts = [
        {
            "key": key,
            "name": name,
            "phone": seed.mobile_number(index * 10 + n),
            "email": f"{key}{index}@example.jp",
        }
        for n, (key, name) in enumerate(
            [("director", "佐藤 部長"), ("office", "受付"), ("desk", "鈴木")]
        )
    ]
    document["contacts"] = contacts
    document["destinations"] = [
        {"key": SLACK_KEY, "kind": "slack", "channel": SLACK_CHANNEL, "secret": "mix-slack-bot"},
        {
            "key": LINE_KEY,
            "kind": "line",
            "to": "U" + f"{index:032x}",
            "secret": "mix-line-token",
            "signing_secret": "mix-line-channel",
        },
    ]
    document["routing"] = [
        {"when": {"urgency": "urgent"}, "notify": ["director"], "channels": ["sms", "email"]},
        {"when": {"category": "complaint"}, "notify": ["director"], "channels": ["sms", "email"]},
        {"when": {"category": "inquiry"}, "notify": ["desk"], "channels": ["sms", "email"]},
        {"notify": ["office"], "channels": ["sms", "email"]},
    ]
    return document


def _history_row(
    serial: int, *, company_id: str, operator_id: str, taken: datetime
) -> dict[str, Any]:
    phone = serial % CALLERS
    return {
        "id": new_id(),
        "company_id": company_id,
        "company_version": 1,
        "operator_id": operator_id,
        "category": "complaint" if serial % 5 == 0 else "inquiry",
        "urgency": "normal",
        "caller_name": "山田 太郎",
        "caller_phone": f"+8190{CALLER_BASE + phone:08d}",  # as bench/mix_users.py types it
        "caller_company": "山田商事株式会社",
        "subject": f"雨漏りの件（{serial}）"
        if serial % 50 == 0
        else f"配送の遅れについて（{serial}）",
        "body": "先週注文した商品がまだとのこと。担当の方から折り返しのお電話が欲しいそうです。",
        "fields": {"order_no": f"A-{serial:06d}"},
        # Most of the history was acknowledged long ago; the codes of the rest are distinct.
        "status": "acknowledged" if serial % 10 else "delivered",
        "ack_code": f"{serial:08d}",
        "created_at": taken,
        "updated_at": taken,
        "skipped": [],
    }


@dataclass
class Seeded:
    slugs: list[str]
    operators: list[str]
    clients: list[dict[str, Any]]  # {"token", "company"}
    history: dict[int, list[str]]  # company index → memo ids, oldest first
    admin: str


def seed_data(database_url: str, *, companies: int, history: int) -> Seeded:
    """Companies, operators, a client user per company, an admin, and `history` memos over
    the last 90 days spread over the companies; all with API tokens."""
    seed.add_companies(database_url, [company_document(i) for i in range(companies)])
    operators = [
        header["Authorization"].removeprefix("Bearer ")
        for header in seed.add_operators(database_url, OPERATORS)
    ]
    engine = make_engine(database_url)
    end = datetime.now(UTC) - timedelta(hours=1)
    step = timedelta(days=90) / max(1, history)
    with Session(engine) as session:
        ids = {c.slug: c.id for c in session.exec(select(Company)).all()}
        slugs = [f"mix-{i:03d}" for i in range(companies)]
        operator = auth.create_user(
            session=session, email="history@bench.example.jp", role=Role.operator
        )
        admin = auth.create_user(session=session, email="admin@bench.example.jp", role=Role.admin)
        session.flush()
        admin_token = auth.create_api_token(session=session, user=admin)
        kept: dict[int, list[str]] = {}
        with seed.search_indexed_at_the_end(session):
            rows = []
            for serial in range(history):
                index = serial % companies
                row = _history_row(
                    serial,
                    company_id=ids[slugs[index]],
                    operator_id=operator.id,
                    taken=end - step * (history - serial),
                )
                rows.append(row)
                kept.setdefault(index, []).append(row["id"])
            for start in range(0, len(rows), 5000):
                session.execute(insert(MEMOS), rows[start : start + 5000])
        clients = []
        for index, slug in enumerate(slugs):
            user = auth.create_user(
                session=session,
                email=f"client{index}@bench.example.jp",
                role=Role.client,
                company_id=ids[slug],
                display_name=f"担当{index}",
            )
            token = auth.create_api_token(session=session, user=user)
            clients.append({"token": token, "company": index})
        session.commit()
    engine.dispose()
    return Seeded(slugs, operators, clients, {i: v[-200:] for i, v in kept.items()}, admin_token)


def store_chat_secrets(base: str, admin_token: str) -> None:
    """The secrets the companies' chat destinations name, set as an admin sets them."""
    values = {
        "mix-slack-bot": "xoxb-bench-not-a-token",
        "mix-line-token": "bench-line-access-token",
        "mix-line-channel": LINE_CHANNEL_SECRET,
    }
    headers = {"Authorization": f"Bearer {admin_token}"}
    for name, value in values.items():
        answer = httpx.put(
            f"{base}/api/v1/secrets/{name}", json={"value": value}, headers=headers, timeout=30
        )
        answer.raise_for_status()


# --- what is sampled while the load runs --------------------------------------------------------


class LagSampler:
    """Relay lag each second: the age of the oldest delivery due and not yet sent (0 if none)."""

    def __init__(self, database_url: str) -> None:
        self._base = make_engine(database_url)
        # Without SQLite's write lock: sampling must not hold Relay's writers back.
        self._engine = reader(self._base)
        self.samples: list[tuple[float, float]] = []  # (monotonic time, lag in seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-sampler", daemon=True)

    def lag(self, now: datetime | None = None) -> float:
        """Seconds since the oldest unsent delivery fell due, at `now` (the wall clock)."""
        now = now or datetime.now(UTC)
        with Session(self._engine) as session:
            oldest = session.exec(
                select(func.min(Delivery.due_at)).where(
                    col(Delivery.status).in_(UNSENT), Delivery.due_at <= now
                )
            ).one()
        return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):  # a sample missed is no reason to stop
                self.samples.append((time.monotonic(), self.lag()))

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._base.dispose()

    def between(self, start: float, end: float) -> list[float]:
        return [lag for at, lag in self.samples if start <= at <= end]


class Consoles:
    """Operators' consoles: open event streams (`GET /api/v1/events`), `per_host` on each app
    server, counting the events each receives by type."""

    def __init__(self, hosts: list[str], tokens: list[str], *, per_host: int) -> None:
        self._where = [
            (host, tokens[(n * per_host + i) % len(tokens)])
            for n, host in enumerate(hosts)
            for i in range(per_host)
        ]
        self.counts: list[dict[str, int]] = [{} for _ in self._where]
        self._stop = threading.Event()
        self._responses: list[httpx.Response] = []
        self._threads = [
            threading.Thread(target=self._listen, args=(n,), name=f"console-{n}", daemon=True)
            for n in range(len(self._where))
        ]

    def _listen(self, n: int) -> None:
        host, token = self._where[n]
        headers = {"Authorization": f"Bearer {token}"}
        with (
            contextlib.suppress(httpx.HTTPError, RuntimeError),  # closed when the run ends
            httpx.Client(timeout=httpx.Timeout(10, read=None)) as client,
            client.stream("GET", f"{host}/api/v1/events", headers=headers) as response,
        ):
            self._responses.append(response)
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                    self.counts[n][kind] = self.counts[n].get(kind, 0) + 1

    def __enter__(self) -> Consoles:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for response in self._responses:
            with contextlib.suppress(Exception):
                response.close()
        for thread in self._threads:
            thread.join(timeout=3)

    def received(self, kind: str) -> list[int]:
        """How many events of `kind` each console received so far."""
        return [counts.get(kind, 0) for counts in self.counts]


def rss_mb(pid: int) -> float:
    """A process's resident memory (VmRSS) in MiB; NaN once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def relay_processes() -> dict[str, int]:
    """The live Relay children (servers and dispatchers) by name."""
    return {
        child.name: child.pid
        for child in harness.LIVE
        if child.name.startswith(("relay", "dispatcher"))
    }


# --- locust's figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteFigures:
    """One route's figures (times in ms, rounded as locust rounds them)."""

    name: str
    requests: int
    failures: int
    p50: float
    p99: float
    max: float
    rate: float  # requests per second over the step


def histogram_percentile(times: dict[int, int], q: float) -> float:
    """The nearest-rank percentile `q` (0–100) of a histogram {ms: count}; NaN when empty."""
    total = sum(times.values())
    if total == 0:
        return math.nan
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= rank:
            return float(ms)
    return float(max(times))


def _figures(
    name: str, requests: int, failures: int, times: dict[int, int], most: float, seconds: float
) -> RouteFigures:
    return RouteFigures(
        name=name,
        requests=requests,
        failures=failures,
        # Locust rounds times (137 ms is kept as 140): the exact maximum caps them.
        p50=min(histogram_percentile(times, 50), most),
        p99=min(histogram_percentile(times, 99), most),
        max=most if requests else math.nan,
        rate=requests / seconds if seconds > 0 else math.nan,
    )


@dataclass(frozen=True)
class LocustFigures:
    routes: list[RouteFigures]
    total: RouteFigures
    failure_lines: list[str]  # what failed, with how often
    raised: int  # tasks that raised: the rest of such a task was never sent
    tasks: int  # tasks finished
    unfinished: int  # tasks still waiting for an answer when locust stopped


def read_figures(path: Path, *, seconds: float) -> LocustFigures:
    """What bench/mix_users.py wrote when locust quit, over a step of `seconds`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    routes = []
    everything: dict[int, int] = {}
    for route in sorted(data["routes"], key=lambda r: str(r["name"])):
        times = {int(ms): int(count) for ms, count in route["times"].items()}
        for ms, count in times.items():
            everything[ms] = everything.get(ms, 0) + count
        routes.append(
            _figures(
                route["name"], route["requests"], route["failures"], times, route["max"], seconds
            )
        )
    total = _figures(
        "all",
        sum(r.requests for r in routes),
        sum(r.failures for r in routes),
        everything,
        max((r.max for r in routes if r.requests), default=math.nan),
        seconds,
    )
    lines = [f"{e['occurrences']} × {e['name']}: {e['error'][:300]}" for e in data["errors"]]
    lines += [f"{e['count']} × task raised: {e['message'][:300]}" for e in data["exceptions"]]
    raised = sum(int(e["count"]) for e in data["exceptions"])
    done = int(data["tasks"]["done"])
    unfinished = int(data["tasks"]["started"]) - done
    if unfinished:
        lines.append(f"{unfinished} × task still unanswered when the load stopped")
    return LocustFigures(routes, total, lines, raised, done, unfinished)


# --- one step -------------------------------------------------------------------------------


@dataclass
class Step:
    rate: float  # tasks per second asked for
    seconds: float
    routes: list[RouteFigures] = field(default_factory=list)
    total: RouteFigures | None = None
    failure_lines: list[str] = field(default_factory=list)
    raised: int = 0  # tasks that raised in the load generator
    unfinished: int = 0  # tasks unanswered when the load stopped
    tasks_per_s: float = math.nan  # tasks finished per second
    lag: list[float] = field(default_factory=list)
    rss: dict[str, tuple[float, float]] = field(default_factory=dict)  # name → (start, end)

    @property
    def failures(self) -> int:
        return (self.total.failures if self.total else 0) + self.raised + self.unfinished

    @property
    def kept_up(self) -> bool:
        """Whether the load ran at (nearly) the rate asked: slow answers hold users back."""
        return self.tasks_per_s >= KEPT_UP * self.rate

    @property
    def lag_max(self) -> float:
        return max(self.lag) if self.lag else math.nan

    @property
    def bounded(self) -> bool:
        return bool(self.lag) and self.lag_max < LAG_BOUND_S

    @property
    def clean(self) -> bool:
        return self.total is not None and self.total.requests > 0 and self.failures == 0


def _wait_for_line(path: Path, needle: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while needle not in path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"locust never said {needle!r}:\n{tail}")
        time.sleep(0.1)


def run_step(
    *, rate: float, seconds: float, config: Path, logdir: Path, sampler: LagSampler, label: str
) -> Step:
    """Locust at `rate` tasks/s for `seconds`, its own process, and what it measured.

    The driver times the step and stops locust with SIGTERM: locust's own `--run-time` counts
    from before its start-up (gevent's loop time), which on a busy machine cut steps short."""
    users = max(1, math.ceil(rate / THROUGHPUT_PER_USER))
    result = logdir / f"locust-{label}.json"
    log_path = logdir / f"locust-{label}.log"
    argv = [str(Path(sys.executable).parent / "locust"), "-f", str(REPO_DIR / "bench/mix_users.py")]
    argv += ["--headless", "-u", str(users), "-r", str(max(1.0, users / 2))]
    argv += ["--only-summary", "--loglevel", "INFO", "--exit-code-on-error", "0"]
    # Stopping lets every task waiting for an answer have it, so slow answers are counted.
    argv += ["--stop-timeout", f"{STOP_TIMEOUT_S:g}"]
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR), "MIX_CONFIG": str(config)}
    env["MIX_RESULT"] = str(result)
    step = Step(rate=rate, seconds=seconds)
    before = {name: rss_mb(pid) for name, pid in relay_processes().items()}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO_DIR, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_for_line(log_path, "Ramping to", process)
            started = time.monotonic()
            time.sleep(seconds)
            ended = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0 or not result.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"locust exited with {process.returncode}:\n{tail}")
    after = {name: rss_mb(pid) for name, pid in relay_processes().items()}
    step.rss = {name: (before.get(name, math.nan), after[name]) for name in after}
    figures = read_figures(result, seconds=ended - started)
    step.routes, step.total = figures.routes, figures.total
    step.failure_lines, step.raised = figures.failure_lines, figures.raised
    step.unfinished = figures.unfinished
    step.tasks_per_s = figures.tasks / (ended - started)
    step.lag = sampler.between(started, ended)
    return step


def rate_to_hold(steps: list[Step]) -> float | None:
    """The highest rate whose step kept up, had no failed request and relay lag bounded."""
    good = [step.rate for step in steps if step.clean and step.bounded and step.kept_up]
    return max(good) if good else None


# --- one backend ------------------------------------------------------------------------------


STARTUP_S = 120.0  # a busy 2-core machine takes over 20 s just to import Relay


@contextlib.contextmanager
def relay_processes_for(backend: str, *, env: dict[str, str], logdir: Path) -> Iterator[list[str]]:
    """SQLite: `relay serve`; PostgreSQL: 2 × `relay serve --no-dispatcher` and 2 ×
    `relay dispatcher`, all started at once. Yields the app servers' base URLs."""
    cli = [sys.executable, "-m", "service.cli"]
    apps: list[tuple[str, list[str]]] = []
    dispatchers: list[tuple[str, list[str]]] = []
    if backend == "sqlite":
        apps.append(("relay", ["serve"]))
    else:
        apps += [(f"relay-app-{n}", ["serve", "--no-dispatcher"]) for n in (1, 2)]
        dispatchers += [(f"dispatcher-{n}", ["dispatcher"]) for n in (1, 2)]
    with contextlib.ExitStack() as stack:
        hosts = []
        for name, args in apps:
            port = harness.free_port()
            argv = [*cli, *args, "--host", "127.0.0.1", "--port", str(port)]
            child = stack.enter_context(
                harness.started(harness.Child(name, argv, env=env, logdir=logdir))
            )
            hosts.append((f"http://127.0.0.1:{port}", child))
        waiting = [
            stack.enter_context(
                harness.started(harness.Child(name, [*cli, *args], env=env, logdir=logdir))
            )
            for name, args in dispatchers
        ]
        for base, child in hosts:
            # It answers once its lifespan, its dispatcher included, has started.
            harness.wait_http(base, child, timeout=STARTUP_S)
        for child in waiting:
            child.wait_for_log("channel sms goes to", timeout=STARTUP_S)
        yield [base for base, _ in hosts]


def delivery_statuses(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        rows = session.exec(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    engine.dispose()
    return {str(status): int(count) for status, count in rows}


def _log_errors(logdir: Path) -> list[str]:
    """Tracebacks and errors the Relay processes logged (names of the logs and first lines)."""
    found = []
    for path in sorted(logdir.glob("*.log")):
        if path.name.startswith(("locust", "twilio")):
            continue
        lines = path.read_text(errors="replace").splitlines()
        bad = [
            line
            for line in lines
            if "Traceback" in line or " ERROR " in line or line.startswith("ERROR:")
        ]
        if bad:
            found.append(f"{path.stem}: {len(bad)} error lines, first: {bad[0][:200]}")
    return found


@dataclass
class Outcome:
    backend: str
    config: str
    steps: list[Step]
    hold: Step | None
    statuses: dict[str, int]
    log_errors: list[str]
    ringing: list[int]  # call.ringing events each console received


def run_backend(
    backend: str,
    *,
    rates: list[float],
    step_seconds: float,
    hold_seconds: float,
    companies: int,
    history: int,
    postgres_url: str,
    keep_logs: bool,
) -> Outcome:
    with (
        harness.workdir(keep=keep_logs) as work,
        harness.scratch_database(
            backend, name="relay_bench_mix", workdir=work, postgres_url=postgres_url
        ) as database,
    ):
        began = time.monotonic()
        seeded = seed_data(database.url, companies=companies, history=history)
        print(f"mix: {backend}: seeded in {time.monotonic() - began:.1f} s", flush=True)
        with harness.twilio_standin(logdir=work, delay_ms=STANDIN_DELAY_MS) as standin:
            env = harness.relay_env(
                database.url,
                RELAY_TWILIO_API_BASE=standin,
                RELAY_SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET,
            )
            began = time.monotonic()
            with relay_processes_for(backend, env=env, logdir=work) as hosts:
                print(
                    f"mix: {backend}: Relay serving in {time.monotonic() - began:.1f} s", flush=True
                )
                store_chat_secrets(hosts[0], seeded.admin)
                config = work / "mix.json"
                config.write_text(
                    json.dumps(
                        {
                            "hosts": hosts,
                            "standin": standin,
                            "account_sid": harness.ACCOUNT_SID,
                            "auth_token": harness.AUTH_TOKEN,
                            "public_base": harness.PUBLIC_BASE,
                            "secret_key": harness.SECRET_KEY,
                            "slack_signing_secret": SLACK_SIGNING_SECRET,
                            "slack_channel": SLACK_CHANNEL,
                            "slack_key": SLACK_KEY,
                            "line_channel_secret": LINE_CHANNEL_SECRET,
                            "line_key": LINE_KEY,
                            "companies": [
                                {"slug": slug, "number": seed.company_number(i)}
                                for i, slug in enumerate(seeded.slugs)
                            ],
                            "operators": seeded.operators,
                            "clients": seeded.clients,
                            "history": seeded.history,
                            "callers": CALLERS,
                            "caller_base": CALLER_BASE,
                            "throughput": THROUGHPUT_PER_USER,
                        },
                        ensure_ascii=False,
                    ),
                    encoding="utf-8",
                )
                steps: list[Step] = []
                hold = None
                consoles = Consoles(hosts, seeded.operators, per_host=CONSOLES_PER_APP)
                with consoles, LagSampler(database.url) as sampler:
                    for rate in rates:
                        print(
                            f"mix: {backend}: {rate:g} tasks/s for {step_seconds:g} s", flush=True
                        )
                        step = run_step(
                            rate=rate,
                            seconds=step_seconds,
                            config=config,
                            logdir=work,
                            sampler=sampler,
                            label=f"step-{rate:g}",
                        )
                        steps.append(step)
                        print(f"mix: {_step_line(step)}", flush=True)
                    best = rate_to_hold(steps)
                    if best is not None and hold_seconds > 0:
                        print(f"mix: {backend}: holding {best:g} tasks/s for {hold_seconds:g} s")
                        hold = run_step(
                            rate=best,
                            seconds=hold_seconds,
                            config=config,
                            logdir=work,
                            sampler=sampler,
                            label="hold",
                        )
                        print(f"mix: {_step_line(hold)}", flush=True)
                    time.sleep(2)  # the last calls' events on their way to the consoles
                    ringing = consoles.received("call.ringing")
            statuses = delivery_statuses(database.url)
            errors = _log_errors(work)
    setup = (
        "`relay serve` (its own dispatcher)"
        if backend == "sqlite"
        else "2 × `relay serve --no-dispatcher` + 2 × `relay dispatcher`"
    )
    return Outcome(
        backend, f"{database.description}: {setup}", steps, hold, statuses, errors, ringing
    )


def _step_line(step: Step) -> str:
    total = step.total
    done = f"{total.requests} requests, {step.failures} failed" if total else "no figures"
    return f"{step.rate:g} tasks/s: {done}, relay lag max {step.lag_max:.1f} s"


# --- the report ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


def _mb(pair: tuple[float, float]) -> str:
    start, end = pair
    return f"{start:.0f} → {end:.0f}"


def _label(step: Step, *, hold: bool) -> str:
    return f"{step.rate:g}/s held {step.seconds:g} s" if hold else f"{step.rate:g}/s"


def report_outcome(report: Report, outcome: Outcome, *, held_for: float) -> None:
    """Tables for one backend: each step and the hold, per route, lag and memory."""
    runs = [(s, False) for s in outcome.steps] + ([(outcome.hold, True)] if outcome.hold else [])
    names = sorted({name for step, _ in runs for name in step.rss})
    overview = Table(
        f"{outcome.backend}: each step ({outcome.config})",
        [
            "rate (tasks/s)",
            "tasks/s done",
            "requests",
            "req/s",
            "failed",
            "p50 ms",
            "p99 ms",
            "relay lag max s",
            "lag p99 s",
            *(f"{name} MiB" for name in names),
        ],
    )
    routes = Table(
        f"{outcome.backend}: per route (n, failed, p50 ms, p99 ms, max ms)",
        ["route", *(_label(step, hold=hold) for step, hold in runs)],
    )
    for step, hold in runs:
        total = step.total
        overview.rows.append(
            [
                _label(step, hold=hold),
                f"{step.tasks_per_s:.1f}",
                str(total.requests) if total else "0",
                f"{total.rate:.1f}" if total else "–",
                str(step.failures),
                _ms(total.p50) if total else "–",
                _ms(total.p99) if total else "–",
                f"{step.lag_max:.1f}",
                f"{percentile(step.lag, 99):.1f}",
                *(_mb(step.rss[name]) if name in step.rss else "–" for name in names),
            ]
        )
    route_names = [r.name for r in runs[0][0].routes] if runs else []
    for name in sorted({r.name for step, _ in runs for r in step.routes} | set(route_names)):
        cells = [name]
        for step, _ in runs:
            found = next((r for r in step.routes if r.name == name), None)
            cells.append(
                f"{found.requests}, {found.failures}, {_ms(found.p50)}, {_ms(found.p99)}, "
                f"{_ms(found.max)}"
                if found
                else "–"
            )
        routes.rows.append(cells)
    report.tables += [overview, routes]
    rung = sum(
        r.requests - r.failures
        for step, _ in runs
        for r in step.routes
        if r.name == "POST /twilio/voice"
    )
    report.notes.append(
        f"{outcome.backend}: {len(outcome.ringing)} operator consoles open; call.ringing "
        f"received by each: {', '.join(map(str, outcome.ringing))} of {rung} calls rung"
    )
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(outcome.statuses.items()))
    report.notes.append(f"{outcome.backend}: deliveries at the end: {statuses}")
    for step, hold in runs:
        for line in step.failure_lines:
            report.notes.append(f"{outcome.backend} at {_label(step, hold=hold)}: {line}")
    for line in outcome.log_errors:
        report.notes.append(f"{outcome.backend}: logged {line}")
    if outcome.hold is None:
        if not held_for:
            return  # no hold was asked for
        report.failures.append(
            f"{outcome.backend}: no rate kept up (≥ {KEPT_UP:.0%} of its tasks/s) without "
            f"failures and with relay lag under {LAG_BOUND_S:g} s, so none was held"
        )
        return
    held = outcome.hold
    report.targets.append(
        Target(
            f"{outcome.backend}: {held.rate:g} tasks/s held {held.seconds:g} s with no failed "
            f"request and relay lag under {LAG_BOUND_S:g} s",
            held.clean and held.bounded,
            f"{held.failures} failed of {held.total.requests if held.total else 0}, "
            f"relay lag max {held.lag_max:.1f} s",
        )
    )


def run(
    *,
    backends: list[str],
    rates: list[float],
    step_seconds: float,
    hold_seconds: float,
    companies: int,
    history: int,
    postgres_url: str,
    keep_logs: bool = False,
) -> tuple[Report, int]:
    """The report, and how many requests failed over every step and hold."""
    failed = 0
    report = Report(
        "mix",
        f"Load mix: a bureau's day at {', '.join(f'{r:g}' for r in rates)} tasks/s, "
        f"{step_seconds:g} s a step, the best held {hold_seconds:g} s",
    )
    for backend in backends:
        outcome = run_backend(
            backend,
            rates=rates,
            step_seconds=step_seconds,
            hold_seconds=hold_seconds,
            companies=companies,
            history=history,
            postgres_url=postgres_url,
            keep_logs=keep_logs,
        )
        report.backends.append(outcome.config)
        report_outcome(report, outcome, held_for=hold_seconds)
        failed += sum(s.failures for s in outcome.steps)
        failed += outcome.hold.failures if outcome.hold else 0
    report.notes.append(
        f"{companies} companies (each memo: one SMS to the stand-in Twilio, {STANDIN_DELAY_MS:g}"
        f" ms, and one email to the dev outbox), {history} memos of history, {OPERATORS} "
        f"operators, one client user per company; locust users at {THROUGHPUT_PER_USER:g} "
        "tasks/s each; times in ms as locust rounds them; relay lag sampled each second; "
        "memory is VmRSS at the start → end of each step"
    )
    return report, failed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mix", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--rates", default="2,4,8,16", help="tasks/s of each step, in order")
    parser.add_argument("--step-seconds", type=float, default=60.0)
    parser.add_argument("--hold-seconds", type=float, default=300.0)
    parser.add_argument("--companies", type=int, default=40)
    parser.add_argument("--history", type=int, default=20_000, help="memos already there")
    parser.add_argument(
        "--short", action="store_true", help="the CI version: tiny rates and steps, under 2 min"
    )
    options = parser.parse_args()
    rates = [float(r) for r in options.rates.split(",") if r.strip()]
    if options.short:
        rates, options.step_seconds, options.hold_seconds = [2.0, 4.0], 6.0, 6.0
        options.companies, options.history = 10, 500
    report, failed = run(
        backends=harness.backends(options),
        rates=rates,
        step_seconds=options.step_seconds,
        hold_seconds=options.hold_seconds,
        companies=options.companies,
        history=options.history,
        postgres_url=options.postgres_url,
        keep_logs=options.keep_logs,
    )
    report.print()
    if options.record:
        record(report, command=command_line())
    # A full run's steps are meant to find the rate where requests start failing; the short
    # one runs far below it, so there any failed request is a fault.
    if report.failures or (options.short and failed):
        sys.exit(1)


if __name__ == "__main__":
    main()
