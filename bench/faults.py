"""Provider faults in bursts: afterwards every memo reached someone or visibly failed, and no SMS
or chat message reached anyone twice.

Companies are routed to SMS, email and each chat platform, every one of them served by the
fault stand-in (bench/fault_standin.py). Relay runs as `relay serve` on SQLite, and as `relay
serve --no-dispatcher` with two `relay dispatcher` on PostgreSQL. Memos are posted at a steady
pace while faults hit each channel in turn, then several at once: refused connections, 429
with Retry-After, 500 and 503, requests hung past Relay's timeout, answers cut after their
headers, and Twilio refusing a number for good (400, 21211); for SMTP 421 and 451, 550, a
connection dropped before the answer to DATA, and a hang. Then the run waits (bounded) until
no delivery is pending, sending or retrying, and checks, per channel:

- every memo reached at least one contact (its status `sent` or `delivered`, and the stand-in
  holds a message bearing the memo's tag) or is `failed` with every delivery failed and an
  `error` a supervisor reads on the memo (`GET /api/v1/memos/{id}`);
- no SMS and no chat message reached anyone twice: the stand-in holds at most one message per
  recipient, memo and event (a webhook's copies under one `webhook-id` are dropped by the
  receiver; LINE answers a retry key it took 409);
- nothing is left pending, sending or retrying, no memo is left `relaying`, and no Relay
  process died or logged a failed dispatcher pass.

A delivery whose outcome is unknown (a 5xx, a hang, a cut answer) on a channel that cannot
de-duplicate waits two minutes (the dispatcher's `reconcile_after`) before Relay asks the
provider; a full run therefore settles some two and a half minutes after its last burst.
`--short` (the CI version) keeps to faults Relay settles at once: refusals and 429s
everywhere, 5xx and cut answers where the platform de-duplicates (email, LINE, webhooks) or
where Twilio took the message and its status callback says so.

    .venv/bin/python -m bench.faults [--memos 60] [--backend sqlite|postgresql|both] [--short]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import harness, seed
from bench.report import REPO_DIR, Report, Table

CHANNELS = ("sms", "email", "slack", "chatwork", "line", "lineworks", "teams", "webhook")
CHAT = frozenset(CHANNELS[2:])
COMPANIES_PER_CHANNEL = 3
TAG_FORMAT = "FX{:05d}"
TAG = re.compile(r"FX[0-9]{5}")
UNSETTLED = ("pending", "sending", "retrying")
# On a busy machine a child may take a while to import and start: waited for this long.
START_TIMEOUT = 120.0
# Log lines that say a Relay process broke rather than a provider.
BROKEN_LINES = ("dispatcher pass failed", "Traceback (most recent call last)")

# (seconds from the start, channel, fault). Each channel in turn, then several at once.
FULL_PLAN: list[tuple[float, str, dict[str, Any]]] = [
    (0, "sms", {"mode": "cut", "count": 3, "taken": "alternate", "report": False}),
    (2, "email", {"mode": "451", "count": 3}),
    (4, "slack", {"mode": "500", "count": 2, "taken": "alternate"}),
    (6, "chatwork", {"mode": "refuse", "seconds": 4}),
    (8, "line", {"mode": "cut", "count": 3, "taken": "alternate"}),
    (12, "teams", {"mode": "503", "count": 2, "taken": "alternate"}),
    (14, "webhook", {"mode": "hang", "count": 2, "taken": "alternate"}),
    (16, "sms", {"mode": "429", "count": 3, "retry_after": 3}),
    # An email memo's two contacts refused for good, then their SMS fallbacks too: a memo
    # that reaches no one, which must say why.
    (16, "email", {"mode": "550", "count": 2}),
    (16.4, "sms", {"mode": "400", "count": 2}),
    (19, "sms", {"mode": "hang", "count": 2, "taken": "alternate"}),
    (19, "email", {"mode": "drop", "count": 2, "taken": "alternate"}),
    (22, "chatwork", {"mode": "cut", "count": 2, "taken": "alternate"}),
    (22, "slack", {"mode": "429", "count": 2, "retry_after": 2}),
    # Once every LINE WORKS token is had, so the hang meets a message and not a token request.
    (24, "lineworks", {"mode": "hang", "count": 1, "taken": "no"}),
    # Everything at once for a few seconds.
    *(
        (26, channel, {"mode": "503", "seconds": 4, "taken": "alternate"})
        for channel in ("sms", "slack", "chatwork", "line", "lineworks", "teams", "webhook")
    ),
    (26, "email", {"mode": "421", "seconds": 4}),
    (32, "slack", {"mode": "cut", "count": 2, "taken": "alternate"}),
    (32, "teams", {"mode": "refuse", "seconds": 3}),
    (32, "line", {"mode": "429", "count": 3, "retry_after": 2}),
    (32, "lineworks", {"mode": "429", "count": 2, "retry_after": 2}),
    (32, "webhook", {"mode": "500", "count": 2, "taken": "alternate"}),
    (34, "email", {"mode": "hang", "count": 1, "taken": "yes"}),
    (34, "sms", {"mode": "refuse", "seconds": 3}),
    (36, "chatwork", {"mode": "429", "count": 2, "retry_after": 2}),
]
FULL_PHASE = 40.0
FULL_SETTLE = 300.0

# Faults Relay settles without waiting to ask the provider.
SHORT_PLAN: list[tuple[float, str, dict[str, Any]]] = [
    (0, "sms", {"mode": "cut", "count": 2, "taken": "yes"}),
    (0, "email", {"mode": "451", "count": 2}),
    (1, "slack", {"mode": "429", "count": 2, "retry_after": 2}),
    (1, "chatwork", {"mode": "refuse", "seconds": 3}),
    (2, "line", {"mode": "cut", "count": 2, "taken": "alternate"}),
    (2, "lineworks", {"mode": "refuse", "seconds": 3}),
    (3, "teams", {"mode": "429", "count": 2, "retry_after": 2}),
    (3, "webhook", {"mode": "500", "count": 2, "taken": "alternate"}),
    (5, "email", {"mode": "drop", "count": 2, "taken": "alternate"}),
    (5, "sms", {"mode": "429", "count": 2, "retry_after": 2}),
    (7, "email", {"mode": "550", "count": 1}),
    # Several at once.
    (9, "sms", {"mode": "refuse", "seconds": 3}),
    (9, "slack", {"mode": "refuse", "seconds": 3}),
    (9, "line", {"mode": "503", "seconds": 3, "taken": "alternate"}),
    (9, "webhook", {"mode": "cut", "seconds": 3, "taken": "alternate"}),
    (9, "email", {"mode": "421", "seconds": 3}),
    (9, "teams", {"mode": "refuse", "seconds": 3}),
    (9, "chatwork", {"mode": "429", "count": 2, "retry_after": 2}),
]
SHORT_PHASE = 12.0
SHORT_SETTLE = 100.0
SHORT_MEMOS = 24


# --- the stand-in ----------------------------------------------------------------------------


@contextlib.contextmanager
def fault_standin(*, logdir: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """The fault stand-in on free ports; yields its control URL and each channel's port."""
    port = harness.free_port()
    argv = [sys.executable, "-m", "bench.fault_standin", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    with harness.started(harness.Child("fault-standin", argv, env=env, logdir=logdir)) as child:
        control = f"http://127.0.0.1:{port}"
        harness.wait_http(control, child, timeout=START_TIMEOUT)
        ports = httpx.get(f"{control}/ports", timeout=10).json()
        yield control, {name: int(value) for name, value in ports.items()}


@contextlib.contextmanager
def relay_server(
    *, env: dict[str, str], logdir: Path, dispatcher: bool, name: str
) -> Iterator[str]:
    """`relay serve [--no-dispatcher]` on a free port, given time to start; its base URL."""
    port = harness.free_port()
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), *([] if dispatcher else ["--no-dispatcher"])]
    with harness.started(harness.Child(name, argv, env=env, logdir=logdir)) as child:
        base = f"http://127.0.0.1:{port}"
        harness.wait_http(base, child, timeout=START_TIMEOUT)
        yield base


@contextlib.contextmanager
def relay_dispatchers(*, env: dict[str, str], logdir: Path, count: int) -> Iterator[None]:
    """`count` `relay dispatcher` processes, each given time to start."""
    argv = [sys.executable, "-m", "service.cli", "dispatcher"]
    with contextlib.ExitStack() as stack:
        children = [
            stack.enter_context(
                harness.started(harness.Child(f"dispatcher-{n}", argv, env=env, logdir=logdir))
            )
            for n in range(count)
        ]
        for child in children:
            child.wait_for_log("channel sms goes to", timeout=START_TIMEOUT)
        yield


# --- the companies ---------------------------------------------------------------------------


@dataclass
class Seeded:
    documents: list[dict[str, Any]] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    channel_of: dict[str, str] = field(default_factory=dict)  # slug -> channel routed to


def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _destination(channel: str, slug: str, n: int, ports: dict[str, int]) -> dict[str, Any]:
    """One destination of `channel`, falling back to the company's desk (email, then SMS)."""
    base: dict[str, Any] = {"key": "room", "kind": channel, "fallback": "desk"}
    secret = f"{slug}-token"
    if channel == "slack":
        return {**base, "channel": f"CSLACK{n:04d}", "secret": secret}
    if channel == "chatwork":
        return {**base, "room_id": str(900_000_000 + n), "secret": secret}
    if channel == "line":
        return {**base, "to": f"U{n:032x}", "secret": secret, "signing_secret": f"{slug}-sign"}
    if channel == "lineworks":
        return {
            **base,
            "bot_id": "2000001",
            "channel_id": f"fx-channel-{n}",
            "client_id": "fx-client",
            "service_account": f"fx{n}.serviceaccount@fx.example.jp",
            "secret": f"{slug}-key",
            "client_secret": f"{slug}-client",
            "bot_secret": f"{slug}-bot",
        }
    if channel == "teams":
        return {**base, "secret": f"{slug}-workflow"}
    return {
        **base,
        "url": f"http://127.0.0.1:{ports['webhook']}/hooks/{slug}",
        "secret": f"{slug}-whsec",
    }


def companies(ports: dict[str, int]) -> Seeded:
    """Companies routed to each channel; every contact has an email and a phone to fall back to."""
    seeded = Seeded()
    private_key = _private_key()
    n = 0
    for channel in CHANNELS:
        for k in range(COMPANIES_PER_CHANNEL):
            n += 1
            slug = f"fx-{channel}-{k}"
            document = seed.company_document(slug=slug, index=700 + n)
            contacts = [
                {
                    "key": key,
                    "name": f"担当{key}",
                    "email": f"{key}.{slug}@fx.example.jp",
                    "phone": seed.mobile_number(70_000 + n * 10 + i),
                }
                for i, key in enumerate(("c0", "c1", "desk"))
            ]
            document["contacts"] = contacts
            if channel in ("sms", "email"):
                document["routing"] = [{"notify": ["c0", "c1"], "channels": [channel]}]
            else:
                destination = _destination(channel, slug, n, ports)
                document["destinations"] = [destination]
                document["routing"] = [{"notify": ["room"], "channels": [channel]}]
                seeded.secrets.update(_secrets(channel, slug, destination, ports, private_key))
            seeded.documents.append(document)
            seeded.channel_of[slug] = channel
    return seeded


def _secrets(
    channel: str, slug: str, destination: dict[str, Any], ports: dict[str, int], key: str
) -> dict[str, str]:
    if channel == "teams":
        return {destination["secret"]: f"http://127.0.0.1:{ports['teams']}/workflows/{slug}"}
    if channel == "webhook":
        raw = base64.b64encode(slug.encode().ljust(24, b"k")).decode()
        return {destination["secret"]: f"whsec_{raw}"}
    if channel == "lineworks":
        return {
            destination["secret"]: key,
            destination["client_secret"]: f"{slug}-client-secret",
            destination["bot_secret"]: f"{slug}-bot-secret",
        }
    if channel == "line":
        return {destination["secret"]: f"{slug}-access-token", destination["signing_secret"]: "s"}
    return {destination["secret"]: f"{slug}-api-token"}


def admin_headers(database_url: str) -> dict[str, str]:
    """A supervisor (an admin) with an API token, to read the board as one would."""
    from sqlmodel import Session

    from service.auth import service as auth
    from service.auth.models import Role
    from service.db import make_engine

    engine = make_engine(database_url)
    with Session(engine) as session:
        user = auth.create_user(
            session=session, email="fx-admin@bench.example.jp", role=Role.admin, display_name="監督"
        )
        token = auth.create_api_token(session=session, user=user)
        session.commit()
    engine.dispose()
    return {"Authorization": f"Bearer {token}"}


def store(database_url: str, seeded: Seeded) -> None:
    """Save the companies and set their secrets as an admin would."""
    from pydantic import SecretStr
    from sqlmodel import Session

    from service.audit.service import SYSTEM_ACTOR
    from service.db import make_engine
    from service.secrets.service import set_secret
    from service.settings import Settings

    seed.add_companies(database_url, seeded.documents)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SecretStr(harness.SECRET_KEY),
        public_base_url=harness.PUBLIC_BASE,
    )
    engine = make_engine(database_url)
    with Session(engine) as session:
        for name, value in seeded.secrets.items():
            set_secret(
                session=session, name=name, value=value, settings=settings, actor=SYSTEM_ACTOR
            )
        session.commit()
    engine.dispose()


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Posted:
    memos: dict[str, str] = field(default_factory=dict)  # memo id -> tag
    channel_of: dict[str, str] = field(default_factory=dict)  # memo id -> channel routed to
    refused: list[str] = field(default_factory=list)


def _memo(slug: str, serial: int) -> dict[str, Any]:
    body = seed.memo_body(slug, serial)
    body["subject"] = f"{TAG_FORMAT.format(serial)} 配送の遅れについて"
    return body


def run_plan(
    *,
    base: str,
    control: str,
    headers: dict[str, str],
    plan: list[tuple[float, str, dict[str, Any]]],
    memos: int,
    phase: float,
    channel_of: dict[str, str],
) -> Posted:
    """Post `memos` at a steady pace over `phase` seconds while the plan's faults switch on."""
    slugs = sorted(channel_of, key=lambda s: (CHANNELS.index(channel_of[s]), s))
    by_channel = defaultdict(list)
    for slug in slugs:
        by_channel[channel_of[slug]].append(slug)
    steps: list[tuple[float, int, Any]] = [(at, 0, (channel, spec)) for at, channel, spec in plan]
    steps += [(phase * i / memos, 1, i) for i in range(memos)]
    steps.sort(key=lambda step: (step[0], step[1]))
    posted = Posted()
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        for at, kind, what in steps:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if kind == 0:
                channel, spec = what
                answer = client.post(f"{control}/faults", json={"channel": channel, **spec})
                answer.raise_for_status()
                continue
            serial = what + 1
            channel = CHANNELS[what % len(CHANNELS)]
            slug = by_channel[channel][(what // len(CHANNELS)) % COMPANIES_PER_CHANNEL]
            answer = client.post(f"{base}/api/v1/memos", json=_memo(slug, serial), headers=headers)
            if answer.status_code != 201:
                posted.refused.append(f"{slug}: HTTP {answer.status_code} {answer.text[:200]}")
                continue
            memo_id = answer.json()["id"]
            posted.memos[memo_id] = TAG_FORMAT.format(serial)
            posted.channel_of[memo_id] = channel
    return posted


def _unsettled(database_url: str) -> tuple[int, int]:
    """Deliveries not settled yet, and memos still relaying."""
    from sqlmodel import Session, col, func, select

    from service.db import make_engine
    from service.dispatch.models import Delivery
    from service.memos.models import Memo

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            deliveries = session.exec(
                select(func.count()).where(col(Delivery.status).in_(UNSETTLED))
            ).one()
            relaying = session.exec(select(func.count()).where(Memo.status == "relaying")).one()
    finally:
        engine.dispose()
    return int(deliveries), int(relaying)


def settle(database_url: str, *, bound: float) -> tuple[float, tuple[int, int]]:
    """Wait until every delivery settled, at most `bound` seconds; how long, and what is left."""
    started = time.monotonic()
    left = _unsettled(database_url)
    while left != (0, 0) and time.monotonic() - started < bound:
        time.sleep(1.0)
        left = _unsettled(database_url)
    return time.monotonic() - started, left


# --- the checks ------------------------------------------------------------------------------


@dataclass
class ChannelFigures:
    memos: int = 0
    reached: int = 0
    failed: int = 0
    stuck: int = 0
    lost: int = 0  # said sent, but the stand-in holds nothing of the memo
    unexplained: int = 0  # failed without a reason on some delivery
    deliveries: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    fallbacks: int = 0
    requests: int = 0
    faults: int = 0
    refused_seconds: float = 0.0  # refused connections never reach the stand-in to be counted
    taken: int = 0
    twice: int = 0
    copies: int = 0  # copies a receiver drops by their key (email Message-ID, webhook-id)


def _message_groups(arrivals: list[dict[str, Any]]) -> dict[tuple[str, ...], set[str]]:
    """The messages each recipient holds per memo and event: the distinct messages taken.

    Email is left out (an email whose outcome was unknown is sent again on purpose, under its
    Message-ID). A webhook event taken again under its `webhook-id` is the same message, which
    the receiver drops; on every other channel each message taken is one more the person sees.
    """
    groups: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for serial, arrival in enumerate(arrivals):
        taken = arrival["what"] == "message" and arrival["taken"]
        if not taken or arrival["channel"] == "email":
            continue
        key = arrival["key"] if arrival["channel"] == "webhook" else str(serial)
        for tag in arrival["tags"]:
            groups[(arrival["channel"], arrival["recipient"], tag, arrival["event"])].add(key)
    return groups


def check(
    *,
    base: str,
    headers: dict[str, str],
    admin: dict[str, str],
    posted: Posted,
    arrivals: list[dict[str, Any]],
    counts: dict[str, Any],
) -> tuple[dict[str, ChannelFigures], list[str], list[str]]:
    """Per channel figures, the violations found, and examples of the reasons people read."""
    figures = {channel: ChannelFigures() for channel in CHANNELS}
    violations: list[str] = []
    reasons: list[str] = []
    holding = {
        tag
        for arrival in arrivals
        if arrival["what"] == "message" and arrival["taken"]
        for tag in arrival["tags"]
    }
    with httpx.Client(timeout=30) as client:
        board = client.get(f"{base}/api/v1/board", headers=admin).json()
        unreached = {item["memo_id"]: item for item in board["unreached"]}
        for memo_id, tag in posted.memos.items():
            figure = figures[posted.channel_of[memo_id]]
            figure.memos += 1
            memo = client.get(f"{base}/api/v1/memos/{memo_id}", headers=headers).json()
            mine = [d for d in memo["deliveries"] if d["reason"] in ("routing", "fallback")]
            for delivery in memo["deliveries"]:
                figures[delivery["channel"]].deliveries[delivery["status"]] += 1
                figures[delivery["channel"]].attempts += delivery["attempts"]
                if delivery["reason"] == "fallback":
                    figures[delivery["channel"]].fallbacks += 1
            status = memo["status"]
            if status in ("sent", "delivered"):
                figure.reached += 1
                if tag not in holding:
                    figure.lost += 1
                    violations.append(f"memo {tag} is {status} but no provider holds it")
            elif status == "failed":
                figure.failed += 1
                silent = [d for d in mine if d["status"] != "failed" or not d["error"]]
                if silent:
                    figure.unexplained += 1
                    violations.append(f"memo {tag} failed, but not every delivery says why")
                shown = unreached.get(memo_id)
                if shown is None or not all(d["error"] for d in shown["deliveries"]):
                    violations.append(f"memo {tag} failed, but the board does not show why")
            else:
                figure.stuck += 1
                violations.append(f"memo {tag} is still {status}")
            for delivery in mine:
                if delivery["status"] == "failed" and not delivery["error"]:
                    violations.append(
                        f"memo {tag}: a {delivery['channel']} delivery failed silently"
                    )
                elif delivery["status"] == "failed":
                    reasons.append(f"{delivery['channel']}: {delivery['error']}")
                if delivery["status"] in UNSETTLED:
                    violations.append(
                        f"memo {tag}: {delivery['channel']} delivery still {delivery['status']}"
                        f" ({delivery['error'] or 'no error'})"
                    )
    for (channel, recipient, tag, event), keys in _message_groups(arrivals).items():
        if len(keys) > 1:
            figures[channel].twice += 1
            what = f" {event}" if event else ""
            violations.append(f"{channel}: {recipient} holds memo {tag}{what} {len(keys)} times")
    for channel in CHANNELS:
        counted = counts[channel]
        figures[channel].requests = counted["requests"]
        figures[channel].faults = sum(counted["faults"].values())
        figures[channel].taken = counted["taken"]
        twice = counted["keys_taken_twice"]
        if channel in ("email", "webhook"):
            figures[channel].copies += len(twice)
        elif twice:
            violations.append(f"{channel}: message keys taken twice: {', '.join(twice[:5])}")
    return figures, violations, reasons


# --- one backend -----------------------------------------------------------------------------


@dataclass
class Run:
    backend: str
    config: str
    memos: int
    phase_seconds: float
    settle_seconds: float
    left: tuple[int, int]
    figures: dict[str, ChannelFigures]
    violations: list[str]
    reasons: list[str]
    broken_lines: list[str]
    callbacks_failed: int


def _relay_env(database_url: str, ports: dict[str, int]) -> dict[str, str]:
    local = "http://127.0.0.1"
    return harness.relay_env(
        database_url,
        RELAY_TWILIO_API_BASE=f"{local}:{ports['sms']}",
        RELAY_SMTP_HOST="127.0.0.1",
        RELAY_SMTP_PORT=str(ports["email"]),
        RELAY_SMTP_TLS="none",
        RELAY_MAIL_FROM="relay@fx.example.jp",
        RELAY_CHAT_DELIVERY="live",
        RELAY_SLACK_API_BASE=f"{local}:{ports['slack']}/api",
        RELAY_CHATWORK_API_BASE=f"{local}:{ports['chatwork']}/v2",
        RELAY_LINE_API_BASE=f"{local}:{ports['line']}",
        RELAY_LINEWORKS_API_BASE=f"{local}:{ports['lineworks']}/v1.0",
        RELAY_LINEWORKS_AUTH_URL=f"{local}:{ports['lineworks']}/oauth2/v2.0/token",
    )


def run_backend(backend: str, *, options: argparse.Namespace, logdir: Path) -> Run:
    plan, phase, bound = (
        (SHORT_PLAN, SHORT_PHASE, SHORT_SETTLE)
        if options.short
        else (FULL_PLAN, FULL_PHASE, FULL_SETTLE)
    )
    memos = min(options.memos, SHORT_MEMOS) if options.short else options.memos
    with (
        harness.scratch_database(
            backend, name="relay_bench_faults", workdir=logdir, postgres_url=options.postgres_url
        ) as database,
        fault_standin(logdir=logdir) as (control, ports),
        contextlib.ExitStack() as stack,
    ):
        seeded = companies(ports)
        store(database.url, seeded)
        [headers] = seed.add_operators(database.url, 1, prefix="fx-op")
        admin = admin_headers(database.url)
        env = _relay_env(database.url, ports)
        if backend == "sqlite":
            base = stack.enter_context(
                relay_server(env=env, logdir=logdir, dispatcher=True, name="relay-serve")
            )
            config = "`relay serve` (its own dispatcher)"
            children = ["relay-serve"]
        else:
            base = stack.enter_context(
                relay_server(env=env, logdir=logdir, dispatcher=False, name="relay-app")
            )
            stack.enter_context(relay_dispatchers(env=env, logdir=logdir, count=2))
            config = "`relay serve --no-dispatcher` + 2 × `relay dispatcher`"
            children = ["relay-app", "dispatcher-0", "dispatcher-1"]
        httpx.post(
            f"{control}/callbacks",
            json={"relay": base, "public": harness.PUBLIC_BASE, "auth_token": harness.AUTH_TOKEN},
            timeout=10,
        ).raise_for_status()
        print(f"{backend}: posting {memos} memos over {phase:.0f} s while faults hit", flush=True)
        started = time.monotonic()
        posted = run_plan(
            base=base,
            control=control,
            headers=headers,
            plan=plan,
            memos=memos,
            phase=phase,
            channel_of=seeded.channel_of,
        )
        phase_seconds = time.monotonic() - started
        print(f"{backend}: waiting up to {bound:.0f} s for the deliveries to settle", flush=True)
        settle_seconds, left = settle(database.url, bound=bound)
        for child in harness.LIVE:
            child.check_alive()
        time.sleep(1.0)  # the last status callbacks land
        arrivals = httpx.get(f"{control}/arrivals", timeout=30).json()["arrivals"]
        counts = httpx.get(f"{control}/counts", timeout=30).json()
        figures, violations, reasons = check(
            base=base,
            headers=headers,
            admin=admin,
            posted=posted,
            arrivals=arrivals,
            counts=counts,
        )
        for _, channel, spec in plan:
            if spec["mode"] == "refuse":
                figures[channel].refused_seconds += spec["seconds"]
        violations = posted.refused + violations
        broken = [
            f"{name}: {line.strip()}"
            for name in children
            for line in (logdir / f"{name}.log").read_text(errors="replace").splitlines()
            if any(needle in line for needle in BROKEN_LINES)
        ]
        violations += broken[:10]
    return Run(
        backend=backend,
        config=config,
        memos=len(posted.memos),
        phase_seconds=phase_seconds,
        settle_seconds=settle_seconds,
        left=left,
        figures=figures,
        violations=violations,
        reasons=reasons,
        broken_lines=broken,
        callbacks_failed=int(counts.get("callbacks_failed", 0)),
    )


# --- the report ------------------------------------------------------------------------------


def _statuses(counter: Counter[str]) -> str:
    order = ("delivered", "sent", "failed", *UNSETTLED)
    return ", ".join(f"{counter[s]} {s}" for s in order if counter[s]) or "none"


def build_report(runs: list[Run], options: argparse.Namespace) -> Report:
    version = "short (CI)" if options.short else "full"
    report = Report(benchmark="faults", title=f"Provider faults in bursts ({version})")
    for run in runs:
        report.backends.append(f"{run.backend}: {run.config}")
        memo_table = Table(
            caption=(
                f"{run.backend}: {run.memos} memos over {run.phase_seconds:.0f} s of bursts, "
                f"settled {run.settle_seconds:.0f} s later"
            ),
            header=[
                "channel",
                "memos",
                "reached",
                "failed, with reason",
                "stuck",
                "lost",
                "deliveries (routing + fallback)",
                "attempts",
                "fallbacks",
            ],
        )
        provider_table = Table(
            caption=f"{run.backend}: what reached the stand-in",
            header=[
                "channel",
                "requests",
                "faults met",
                "refusing for",
                "messages taken",
                "held twice",
                "copies dropped by key",
            ],
        )
        for channel in CHANNELS:
            f = run.figures[channel]
            memo_table.rows.append(
                [
                    channel,
                    str(f.memos),
                    str(f.reached),
                    str(f.failed - f.unexplained),
                    str(f.stuck),
                    str(f.lost),
                    _statuses(f.deliveries),
                    str(f.attempts),
                    str(f.fallbacks),
                ]
            )
            provider_table.rows.append(
                [
                    channel,
                    str(f.requests),
                    str(f.faults),
                    f"{f.refused_seconds:g} s",
                    str(f.taken),
                    str(f.twice),
                    str(f.copies),
                ]
            )
        report.tables += [memo_table, provider_table]
        if run.left != (0, 0):
            report.failures.append(
                f"{run.backend}: {run.left[0]} deliveries unsettled and {run.left[1]} memos "
                f"relaying after {run.settle_seconds:.0f} s"
            )
        report.failures += [f"{run.backend}: {violation}" for violation in run.violations]
        if run.callbacks_failed:
            report.notes.append(
                f"{run.backend}: {run.callbacks_failed} status callbacks were not taken by Relay"
            )
        # One example of each kind of reason (its first words), as the board shows them.
        kinds = {reason[:40]: reason for reason in sorted(run.reasons)}
        for reason in list(kinds.values())[:8]:
            report.notes.append(f"{run.backend}: a failed delivery's reason: {reason}")
    report.notes.append(
        "reached: the memo is sent or delivered and the stand-in holds a message of it; "
        "failed: every delivery failed, each with its error on the memo; copies dropped by key: "
        "an email sent again under its Message-ID, a webhook event under its webhook-id"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    harness.add_common_options(parser)
    parser.add_argument("--memos", type=int, default=60, help="memos posted during the bursts")
    parser.add_argument(
        "--short", action="store_true", help="the CI version: fewer memos, faults settled at once"
    )
    options = parser.parse_args()
    runs: list[Run] = []
    with harness.workdir(keep=options.keep_logs) as logdir:
        for backend in harness.backends(options):
            started = time.monotonic()
            (logdir / backend).mkdir()
            runs.append(run_backend(backend, options=options, logdir=logdir / backend))
            print(f"{backend}: done in {time.monotonic() - started:.0f} s", flush=True)
    report = build_report(runs, options)
    harness.finish(report, options)


if __name__ == "__main__":
    main()
