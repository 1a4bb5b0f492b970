"""Crash safety: Relay processes SIGKILLed at random moments while operators take memos.

Not a benchmark but a proof, run like one. Operators post memos concurrently (`POST
/api/v1/memos`, each with its own Idempotency-Key, as the console sends them); in every
round, at a moment drawn from a seeded random generator, one or more Relay processes are
killed with SIGKILL and started again, and the operators carry on. A request cut by a kill
is sent again with the same key once the server answers again, as the console does. Every
company routes its memos to two contacts by SMS and by email (four deliveries a memo): SMS
to the stand-in Twilio (bench/twilio_standin.py, its own process), email to a real SMTP
server (aiosmtpd, in a thread of this process); both count what arrives, per delivery.

SQLite: one `relay serve` with its own dispatcher, killed every round. PostgreSQL: two
`relay serve --no-dispatcher` and two `relay dispatcher`; each round kills an app, a
dispatcher, both apps, an app and a dispatcher, both dispatchers, or all four.

After the last round the operators stop and the queue is given (bounded) time to settle.
Then it checks, with counts: every memo answered 201 (or 200 for a repeated key) is in the
database with all its deliveries; every SMS reached the stand-in exactly once; every email
reached the SMTP server at least once (how many twice is reported: an email whose outcome a
kill left unknown is sent again under its Message-ID, which SMTP cannot promise to drop);
no delivery is left pending, sending, retrying or failed; no answer was a 5xx other than
the documented 503 (busy). Any violation makes the run exit 1.

    .venv/bin/python -m bench.crash [--rounds 8] [--operators 8] [--backend both] [--seed N]
                                    [--short] [--record] [--keep-logs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import harness, seed
from bench.report import Report, Table
from tests.providers.smtp_server import RecordingHandler, smtp_server

CONTACTS = 2  # per company, each reached by SMS and by email: four deliveries a memo
CHANNELS = ("sms", "email")
# Memos go to the companies in turn; with this many, no address nears the dispatcher's
# throttle (10 messages a minute to one address), which would only slow the queue down.
COMPANIES = 200
STANDIN_DELAY_MS = 50.0
ANSWER_WITHIN = 120.0  # seconds an operator keeps sending one memo again before giving up
# Seconds after the last memo for every delivery to settle. An SMS whose send got no answer
# waits 2 minutes (QueuePolicy.reconcile_after) for Twilio's status callback before Twilio's
# records are asked, so settling may take that long and a little more.
SETTLE_WITHIN = 240.0
READY_WITHIN = 180.0  # seconds for a restarted process to serve again (on a busy machine)
SETTLED = ("sent", "delivered")
UNSETTLED = ("pending", "sending", "retrying")
# The console waits 1 s, then twice as long each time, up to 15 s; shortened here so that
# rounds a few seconds long still see each memo through.
FIRST_WAIT, LONGEST_WAIT = 0.25, 2.0

# What a PostgreSQL round kills. Each of the first three takes down a kind of process the
# others leave running, so even a short run kills both apps, a dispatcher and both at once.
PG_FIRST = ("both apps", "an app and a dispatcher", "both dispatchers")
PG_LATER = ("an app", "a dispatcher", "every process")


@dataclass(frozen=True)
class Sizes:
    rounds: int
    operators: int
    kill_after: tuple[float, float]  # seconds into a round, all processes serving
    down_for: tuple[float, float]  # seconds between the kill and the restart
    pause: tuple[float, float]  # an operator's pause between memos


def sizes_for(*, rounds: int, operators: int, short: bool) -> Sizes:
    """The full run, or the short one for CI (3 rounds, quicker kills)."""
    if short:
        return Sizes(
            rounds=min(rounds, 3),
            operators=operators,
            kill_after=(0.5, 2.5),
            down_for=(0.0, 0.5),
            pause=(0.3, 0.9),
        )
    return Sizes(
        rounds=rounds,
        operators=operators,
        kill_after=(1.0, 6.0),
        down_for=(0.0, 1.5),
        pause=(0.3, 0.9),
    )


# --- the companies ---------------------------------------------------------------------


def company_document(index: int) -> dict[str, Any]:
    """A company that is always open and sends every memo to its contacts by SMS and email."""
    document = seed.company_document(slug=f"crash-{index:03d}", index=index)
    document["contacts"] = [
        {
            "key": f"c{n}",
            "name": f"担当{n}",
            "email": f"c{n}.{index}@example.jp",
            "phone": seed.mobile_number(index * 10 + n),
        }
        for n in range(CONTACTS)
    ]
    document["routing"] = [
        {"notify": [f"c{n}" for n in range(CONTACTS)], "channels": list(CHANNELS)}
    ]
    return document


# --- Relay processes, killed and started again --------------------------------------------


class Slot:
    """One Relay process under a fixed name (and port, for an app): killed, started again."""

    def __init__(
        self, name: str, *, env: dict[str, str], logdir: Path, app: bool, dispatcher: bool
    ) -> None:
        self.name = name
        self.env = env
        self.logdir = logdir
        self.port = harness.free_port() if app else None
        if app:
            self.argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
            self.argv += ["--port", str(self.port)]
            if not dispatcher:
                self.argv.append("--no-dispatcher")
        else:
            self.argv = [sys.executable, "-m", "service.cli", "dispatcher"]
        self.generation = 0
        self.kills = 0
        self.child: harness.Child | None = None
        self.serving = asyncio.Event()  # set while it serves; an operator waits on it

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.generation += 1
        # One log per life, so a killed process's last words are kept (with --keep-logs).
        self.child = harness.Child(
            f"{self.name}.{self.generation}", self.argv, env=self.env, logdir=self.logdir
        )

    async def ready(self) -> None:
        """Until it serves (an app answers /healthz; a dispatcher has named its providers)."""
        child = self.child
        assert child is not None
        deadline = time.monotonic() + READY_WITHIN
        async with httpx.AsyncClient(timeout=5) as client:
            while not await self._serves(client, child):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{child.name} did not serve within {READY_WITHIN:g} s")
                await asyncio.sleep(0.05)
        self.serving.set()

    async def _serves(self, client: httpx.AsyncClient, child: harness.Child) -> bool:
        child.check_alive()
        if self.port is None:
            return "channel sms goes to" in child.log_text()
        try:
            return (await client.get(f"{self.base}/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        child = self.child
        assert child is not None
        self.serving.clear()
        os.kill(child.pid, signal.SIGKILL)
        child.process.wait()
        child.stop()
        self.kills += 1

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def slots_for(backend: str, *, env: dict[str, str], logdir: Path) -> list[Slot]:
    if backend == "sqlite":
        return [Slot("relay", env=env, logdir=logdir, app=True, dispatcher=True)]
    return [
        Slot("app-1", env=env, logdir=logdir, app=True, dispatcher=False),
        Slot("app-2", env=env, logdir=logdir, app=True, dispatcher=False),
        Slot("dispatcher-1", env=env, logdir=logdir, app=False, dispatcher=False),
        Slot("dispatcher-2", env=env, logdir=logdir, app=False, dispatcher=False),
    ]


def kill_plan(backend: str, *, rounds: int, rng: random.Random) -> list[list[str]]:
    """The names of the processes each round kills."""
    if backend == "sqlite":
        return [["relay"] for _ in range(rounds)]
    first, later = list(PG_FIRST), list(PG_LATER)
    rng.shuffle(first)
    rng.shuffle(later)
    kinds = first + later
    while len(kinds) < rounds:
        more = list(PG_FIRST + PG_LATER)
        rng.shuffle(more)
        kinds += more

    def app() -> str:
        return f"app-{rng.choice((1, 2))}"

    def dispatcher() -> str:
        return f"dispatcher-{rng.choice((1, 2))}"

    victims = {
        "an app": lambda: [app()],
        "a dispatcher": lambda: [dispatcher()],
        "both apps": lambda: ["app-1", "app-2"],
        "an app and a dispatcher": lambda: [app(), dispatcher()],
        "both dispatchers": lambda: ["dispatcher-1", "dispatcher-2"],
        "every process": lambda: ["app-1", "app-2", "dispatcher-1", "dispatcher-2"],
    }
    return [victims[kind]() for kind in kinds[:rounds]]


# --- operators -----------------------------------------------------------------------------


@dataclass
class Tally:
    """What the operators saw."""

    answers: dict[str, list[str]] = field(default_factory=dict)  # memo id → its delivery ids
    created: int = 0  # answered 201
    repeats: int = 0  # answered 200: the same key had taken the memo before a cut
    resent: int = 0  # memos sent more than once (a cut request, a refused connection, a 503)
    cut: int = 0  # requests that got no answer (cut by a kill, or refused while down)
    busy: int = 0  # 503 answers (the database busy: documented, sent again)
    faults: Counter[str] = field(default_factory=Counter)  # any other answer
    unanswered: int = 0  # memos given up on after ANSWER_WITHIN


async def take_memo(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    key: str,
    tally: Tally,
    serving: asyncio.Event | None = None,
) -> None:
    """Post one memo until it is answered, sending it again with the same key as the console
    does: after a wait when the server answered 5xx or nothing, and at once when the server
    is back (`serving` set again; the console's event stream reconnecting)."""
    wait = FIRST_WAIT
    deadline = time.monotonic() + ANSWER_WITHIN
    for attempt in itertools.count():
        if attempt == 1:
            tally.resent += 1
        try:
            answer = await client.post("/api/v1/memos", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            tally.cut += 1
            if serving is not None and not serving.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        serving.wait(), timeout=max(0.0, deadline - time.monotonic())
                    )
                wait = FIRST_WAIT
                if serving.is_set():
                    continue
        else:
            if answer.status_code in (200, 201):
                memo = answer.json()
                tally.answers[memo["id"]] = [d["id"] for d in memo["deliveries"]]
                if answer.status_code == 201:
                    tally.created += 1
                else:
                    tally.repeats += 1
                return
            if answer.status_code == 503:
                tally.busy += 1
            else:
                tally.faults[f"HTTP {answer.status_code}: {answer.text[:160]}"] += 1
                if answer.status_code < 500:
                    return  # refused: the console shows the operator why, and does not resend
        if time.monotonic() > deadline:
            tally.unanswered += 1
            return
        await asyncio.sleep(wait)
        wait = min(wait * 2, LONGEST_WAIT)


async def operator(
    *,
    number: int,
    app: Slot,
    headers: dict[str, str],
    companies: Iterator[str],
    tally: Tally,
    stop: asyncio.Event,
    rng: random.Random,
    pause: tuple[float, float],
) -> None:
    """One operator taking memos one after another until told to stop."""
    async with httpx.AsyncClient(base_url=app.base, headers=headers, timeout=10) as client:
        for serial in itertools.count(1):
            if stop.is_set():
                return
            body = seed.memo_body(next(companies), number * 100_000 + serial)
            await take_memo(client, body, f"crash-op{number}-{serial}", tally, app.serving)
            await asyncio.sleep(rng.uniform(*pause))


# --- one backend ---------------------------------------------------------------------------


@dataclass
class RoundRecord:
    number: int
    at: float  # seconds into the round when the kill came
    killed: list[str]
    down: float  # seconds from the kill to the restart
    back: float  # seconds from the restart until every killed process served again
    answered: int  # memos answered so far


@dataclass
class Outcome:
    backend: str
    processes: str
    rounds: list[RoundRecord]
    kills: dict[str, int]
    tally: Tally
    storm_seconds: float
    settle_seconds: float | None  # None: not settled within SETTLE_WITHIN
    checks: list[tuple[str, int, bool]]  # (what, count, passed)
    figures: dict[str, int]


async def storm(
    *,
    slots: list[Slot],
    plan: list[list[str]],
    headers: list[dict[str, str]],
    slugs: list[str],
    sizes: Sizes,
    rng: random.Random,
    tally: Tally,
) -> tuple[list[RoundRecord], float]:
    """Start the processes, let the operators work through every round's kill and restart,
    and once the last killed processes serve again, stop the operators as soon as every memo
    they began is answered."""
    began = time.monotonic()
    for slot in slots:
        slot.start()
    await asyncio.gather(*(slot.ready() for slot in slots))
    print(f"{len(slots)} Relay processes serving in {time.monotonic() - began:.1f} s", flush=True)
    by_name = {slot.name: slot for slot in slots}
    apps = [slot for slot in slots if slot.port is not None]
    stop = asyncio.Event()
    companies = itertools.cycle(slugs)
    started = time.monotonic()
    workers = [
        asyncio.create_task(
            operator(
                number=number,
                app=apps[number % len(apps)],
                headers=headers[number],
                companies=companies,
                tally=tally,
                stop=stop,
                rng=random.Random(rng.random()),
                pause=sizes.pause,
            )
        )
        for number in range(sizes.operators)
    ]
    records: list[RoundRecord] = []
    try:
        for number, names in enumerate(plan, start=1):
            at = rng.uniform(*sizes.kill_after)
            await asyncio.sleep(at)
            for name in names:
                by_name[name].kill()
            down = rng.uniform(*sizes.down_for)
            await asyncio.sleep(down)
            restarted = time.monotonic()
            for name in names:
                by_name[name].start()
            await asyncio.gather(*(by_name[name].ready() for name in names))
            record = RoundRecord(
                number=number,
                at=at,
                killed=names,
                down=down,
                back=time.monotonic() - restarted,
                answered=len(tally.answers),
            )
            records.append(record)
            print(
                f"round {number}: SIGKILL {', '.join(names)} {at:.2f} s into the round; "
                f"restarted {down:.2f} s later, serving again in {record.back:.1f} s; "
                f"{record.answered} memos answered so far",
                flush=True,
            )
    finally:
        stop.set()
        await asyncio.gather(*workers)
    return records, time.monotonic() - started


def _unsettled(database_url: str) -> int:
    from sqlmodel import Session, col, func, select

    from service.db import make_engine
    from service.dispatch.models import Delivery

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            count = session.exec(
                select(func.count()).where(col(Delivery.status).in_(UNSETTLED))
            ).one()
            session.commit()
    finally:
        engine.dispose()
    return int(count)


def wait_settled(database_url: str, slots: list[Slot]) -> float | None:
    """Seconds until no delivery is pending, sending or retrying; None if not within the bound."""
    started = time.monotonic()
    while _unsettled(database_url):
        for slot in slots:
            assert slot.child is not None
            slot.child.check_alive()
        if time.monotonic() - started > SETTLE_WITHIN:
            return None
        time.sleep(0.25)
    return time.monotonic() - started


def _database(
    database_url: str,
) -> tuple[dict[str, str], list[tuple[str, str, str, str]], Counter[str]]:
    """Every memo's status, every delivery as (id, memo id, channel, status), and how many
    deliveries of each channel took more than one attempt."""
    from sqlmodel import Session, col, func, select

    from service.db import make_engine
    from service.dispatch.models import Delivery
    from service.memos.models import Memo

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            memos = {
                memo_id: str(status)
                for memo_id, status in session.exec(select(Memo.id, Memo.status))
            }
            deliveries = [
                (delivery_id, str(memo_id), str(channel), str(status))
                for delivery_id, memo_id, channel, status in session.exec(
                    select(Delivery.id, Delivery.memo_id, Delivery.channel, Delivery.status)
                )
            ]
            again = Counter(
                {
                    str(channel): int(count)
                    for channel, count in session.exec(
                        select(Delivery.channel, func.count())
                        .where(Delivery.attempts > 1)
                        .group_by(col(Delivery.channel))
                    )
                }
            )
            session.commit()
    finally:
        engine.dispose()
    return memos, deliveries, again


def check(
    *,
    tally: Tally,
    memos: dict[str, str],
    deliveries: list[tuple[str, str, str, str]],
    sms_arrivals: Counter[str],
    email_copies: Counter[str],
    email_ids: dict[str, set[str]],
) -> tuple[list[tuple[str, int, bool]], dict[str, int]]:
    """The checks, each (what, how many, passed), and the figures behind them."""
    per_memo: dict[str, list[tuple[str, str, str]]] = {}
    for delivery_id, memo_id, channel, status in deliveries:
        per_memo.setdefault(memo_id, []).append((delivery_id, channel, status))
    wanted = CONTACTS * len(CHANNELS)
    missing_memos = [memo_id for memo_id in tally.answers if memo_id not in memos]
    incomplete = [
        memo_id
        for memo_id, answered in tally.answers.items()
        if memo_id in memos
        and (
            len(per_memo.get(memo_id, [])) != wanted
            or set(answered) != {row[0] for row in per_memo.get(memo_id, [])}
        )
    ]
    unanswered_memos = [memo_id for memo_id in memos if memo_id not in tally.answers]
    mine = [row for memo_id in tally.answers for row in per_memo.get(memo_id, [])]
    sms = [delivery_id for delivery_id, channel, _ in mine if channel == "sms"]
    emails = [delivery_id for delivery_id, channel, _ in mine if channel == "email"]
    sms_lost = sum(1 for d in sms if sms_arrivals[d] == 0)
    sms_twice = sum(1 for d in sms if sms_arrivals[d] > 1)
    stray_sms = sum(n for d, n in sms_arrivals.items() if d not in set(sms))
    email_lost = sum(1 for d in emails if email_copies[d] == 0)
    email_twice = sum(1 for d in emails if email_copies[d] > 1)
    email_extra = sum(max(0, email_copies[d] - 1) for d in emails)
    two_ids = sum(1 for ids in email_ids.values() if len(ids) > 1)
    statuses = Counter(status for _, _, _, status in deliveries)
    unsettled = sum(n for status, n in statuses.items() if status not in SETTLED)
    memo_unsettled = sum(1 for status in memos.values() if status not in SETTLED)
    faults = sum(tally.faults.values())
    checks = [
        ("memos answered 201/200 missing from the database", len(missing_memos), False),
        ("answered memos without all their deliveries", len(incomplete), False),
        ("memos in the database never answered", len(unanswered_memos), False),
        ("memos given up on (never answered)", tally.unanswered, False),
        ("answers other than 201, 200 and 503", faults, False),
        ("SMS deliveries that never reached the stand-in", sms_lost, False),
        ("SMS deliveries that reached it twice or more", sms_twice, False),
        ("SMS requests for no answered memo's delivery", stray_sms, False),
        ("emails that never reached the SMTP server", email_lost, False),
        ("emails sent again under a new Message-ID", two_ids, False),
        ("deliveries not sent or delivered", unsettled, False),
        ("memos not sent or delivered", memo_unsettled, False),
    ]
    checks = [(what, count, count == 0) for what, count, _ in checks]
    # Informative: SMTP cannot promise once, so an email the kill left unknown comes twice.
    checks.append(("emails that reached the SMTP server twice or more", email_twice, True))
    figures = {
        "memos": len(tally.answers),
        "deliveries": len(mine),
        "sms": len(sms),
        "sms twice": sms_twice,
        "sms lost": sms_lost,
        "emails": len(emails),
        "emails twice": email_twice,
        "email copies beyond the first": email_extra,
        "emails lost": email_lost,
        "left unsettled": unsettled,
        **{f"status {status}": n for status, n in sorted(statuses.items())},
    }
    return checks, figures


def run_backend(
    backend: str, *, sizes: Sizes, seed_value: int, postgres_url: str, work: Path
) -> tuple[Outcome, str]:
    """Every round on one backend, then the checks; the outcome and the database's description."""
    rng = random.Random(f"{seed_value}-{backend}")
    plan = kill_plan(backend, rounds=sizes.rounds, rng=rng)
    with harness.scratch_database(
        backend, name="relay_bench_crash", workdir=work, postgres_url=postgres_url
    ) as database:
        slugs = [f"crash-{index:03d}" for index in range(COMPANIES)]
        began = time.monotonic()
        seed.add_companies(database.url, [company_document(i) for i in range(COMPANIES)])
        headers = seed.add_operators(database.url, sizes.operators, prefix="crash-op")
        print(f"{backend}: {COMPANIES} companies seeded in {time.monotonic() - began:.1f} s")
        handler = RecordingHandler()
        with (
            smtp_server(handler) as mail,
            harness.twilio_standin(logdir=work, delay_ms=STANDIN_DELAY_MS) as standin,
        ):
            env = harness.relay_env(
                database.url,
                RELAY_TWILIO_API_BASE=standin,
                RELAY_SMTP_HOST="127.0.0.1",
                RELAY_SMTP_PORT=str(mail.port),
                RELAY_SMTP_TLS="none",
                RELAY_MAIL_FROM="Relay <relay@relay.example.jp>",
            )
            slots = slots_for(backend, env=env, logdir=work)
            tally = Tally()
            try:
                records, storm_seconds = asyncio.run(
                    storm(
                        slots=slots,
                        plan=plan,
                        headers=headers,
                        slugs=slugs,
                        sizes=sizes,
                        rng=rng,
                        tally=tally,
                    )
                )
                print(
                    f"{backend}: {len(tally.answers)} memos answered; waiting up to "
                    f"{SETTLE_WITHIN:g} s for the queue to settle",
                    flush=True,
                )
                settle = wait_settled(database.url, slots)
            finally:
                # Stopped before anything is counted: nothing can arrive after the count.
                for slot in slots:
                    slot.stop()
            sms_arrivals = Counter(str(a["delivery"]) for a in harness.arrivals(standin))
            email_copies: Counter[str] = Counter()
            email_ids: dict[str, set[str]] = {}
            for message in handler.messages():
                delivery = str(message["X-Relay-Delivery"])
                email_copies[delivery] += 1
                email_ids.setdefault(delivery, set()).add(str(message["Message-ID"]))
        memos, deliveries, again = _database(database.url)
        description = database.description
    checks, figures = check(
        tally=tally,
        memos=memos,
        deliveries=deliveries,
        sms_arrivals=sms_arrivals,
        email_copies=email_copies,
        email_ids=email_ids,
    )
    figures["sms attempted again"] = again["sms"]
    figures["emails attempted again"] = again["email"]
    if settle is None:
        checks.append((f"queue not settled within {SETTLE_WITHIN:g} s", 1, False))
    processes = (
        "`relay serve` (its own dispatcher)"
        if backend == "sqlite"
        else "2 × `relay serve --no-dispatcher` + 2 × `relay dispatcher`"
    )
    outcome = Outcome(
        backend=backend,
        processes=processes,
        rounds=records,
        kills={slot.name: slot.kills for slot in slots},
        tally=tally,
        storm_seconds=storm_seconds,
        settle_seconds=settle,
        checks=checks,
        figures=figures,
    )
    return outcome, description


# --- the report ----------------------------------------------------------------------------


def run(
    *,
    backends: list[str],
    rounds: int = 8,
    operators: int = 8,
    seed_value: int | None = None,
    short: bool = False,
    postgres_url: str,
    keep_logs: bool = False,
) -> Report:
    """Every backend in turn; the report holds the figures, the checks and any violation."""
    sizes = sizes_for(rounds=rounds, operators=operators, short=short)
    if seed_value is None:
        seed_value = random.SystemRandom().randrange(1_000_000)
    print(f"bench.crash: seed {seed_value} (--seed {seed_value} repeats the kill moments)")
    report = Report("crash", "Crash safety under random SIGKILL (bench.crash)")
    rounds_table = Table(
        "Rounds: what was killed (SIGKILL) and when",
        ["backend", "round", "killed", "s into round", "down s", "serving again s", "memos so far"],
    )
    figures_table = Table(
        f"Figures ({sizes.operators} operators, {COMPANIES} companies, each memo to "
        f"{CONTACTS} contacts by SMS and email; seed {seed_value})",
        [
            "backend",
            "processes",
            "kills",
            "memos 201",
            "200 (repeat)",
            "memos resent",
            "503",
            "SMS",
            "SMS twice",
            "SMS lost",
            "emails",
            "emails twice",
            "emails lost",
            "attempted again SMS/email",
            "left pending",
            "storm s",
            "settle s",
        ],
    )
    checks_table = Table("Checks", ["backend", "check", "count", "result"])
    with harness.workdir(keep=keep_logs) as work:
        for backend in backends:
            print(f"\n--- {backend}: {sizes.rounds} rounds", flush=True)
            outcome, description = run_backend(
                backend, sizes=sizes, seed_value=seed_value, postgres_url=postgres_url, work=work
            )
            report.backends.append(description)
            for record in outcome.rounds:
                rounds_table.rows.append(
                    [
                        backend,
                        str(record.number),
                        ", ".join(record.killed),
                        f"{record.at:.2f}",
                        f"{record.down:.2f}",
                        f"{record.back:.1f}",
                        str(record.answered),
                    ]
                )
            tally, figures = outcome.tally, outcome.figures
            kills = sum(outcome.kills.values())
            per_process = ", ".join(f"{name} {n}" for name, n in outcome.kills.items())
            figures_table.rows.append(
                [
                    backend,
                    outcome.processes,
                    f"{kills} ({per_process})",
                    str(tally.created),
                    str(tally.repeats),
                    str(tally.resent),
                    str(tally.busy),
                    str(figures["sms"]),
                    str(figures["sms twice"]),
                    str(figures["sms lost"]),
                    str(figures["emails"]),
                    str(figures["emails twice"]),
                    str(figures["emails lost"]),
                    f"{figures['sms attempted again']}/{figures['emails attempted again']}",
                    str(figures["left unsettled"]),
                    f"{outcome.storm_seconds:.1f}",
                    "—" if outcome.settle_seconds is None else f"{outcome.settle_seconds:.1f}",
                ]
            )
            for what, count, passed in outcome.checks:
                checks_table.rows.append(
                    [backend, what, str(count), "ok" if passed else "VIOLATION"]
                )
                if not passed:
                    report.failures.append(f"{backend}: {what}: {count}")
            for fault, count in tally.faults.most_common(5):
                report.failures.append(f"{backend}: {count} × {fault}")
    report.tables += [figures_table, checks_table, rounds_table]
    report.notes.append(
        "memos 201: memos answered 201 at the first answer the operator got; 200 (repeat): "
        "memos whose first request was cut by a kill after the memo was taken, answered 200 "
        "with that memo when sent again with the same Idempotency-Key; memos resent: memos "
        "sent more than once (no answer, or 503)."
    )
    report.notes.append(
        "An email whose send a kill cut short is sent again under its Message-ID (a mail "
        "system that has it drops the copy); aiosmtpd keeps every copy, so 'emails twice' "
        "counts them. An SMS whose outcome is unknown is never sent again before Twilio's "
        "list of messages (the stand-in's) shows it was never created."
    )
    report.notes.append(
        "settle s: from the operators' last answer until no delivery is pending, sending or "
        "retrying. On PostgreSQL a killed dispatcher's claims wait until it has been silent "
        "for 10 s (DEAD_AFTER) before another dispatcher settles them; on SQLite the "
        "restarted process takes over at once. An SMS whose send got no answer at all (the "
        "stand-in closing an idle keep-alive connection just as it was reused reads so too) "
        "waits 2 minutes for Twilio's status callback before Twilio's records are asked, and "
        "is sent then if they do not hold it. attempted again: deliveries that took more than "
        "one attempt (an SMS found unsent after such a wait or a kill; an email whose send a "
        "kill cut short)."
    )
    report.notes.append(
        f"The stand-in Twilio answers after {STANDIN_DELAY_MS:g} ms. Operators pause "
        f"{sizes.pause[0]:g}–{sizes.pause[1]:g} s between memos and, with no answer or a "
        f"503, send the memo again after {FIRST_WAIT:g} s, doubling up to {LONGEST_WAIT:g} s."
    )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--rounds", type=int, default=8, help="kills per backend")
    parser.add_argument("--operators", type=int, default=8, help="operators posting at once")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run's kill moments")
    parser.add_argument(
        "--short", action="store_true", help="the CI version: 3 rounds per backend, quicker"
    )
    options = parser.parse_args(argv)
    report = run(
        backends=harness.backends(options),
        rounds=options.rounds,
        operators=options.operators,
        seed_value=options.seed,
        short=options.short,
        postgres_url=options.postgres_url,
        keep_logs=options.keep_logs,
    )
    harness.finish(report, options)


if __name__ == "__main__":
    main()
