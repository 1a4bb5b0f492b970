"""`relay serve` killed (SIGKILL) while memos are being taken and relayed, then started again.

Real processes all the way: the server, a local Twilio stand-in (bench/twilio_standin.py) and
an SMTP server (aiosmtpd). The kill is made deterministic by the stand-ins holding requests
unanswered: one SMS Twilio created, one it never did, and one email the mail server kept.
After the restart every memo the operator saw accepted reaches its contacts, no SMS goes out
twice, and the last delivery settles within 15 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from service.auth.models import Role
from service.channels import Channel
from service.dispatch.models import Delivery, DeliveryStatus
from service.memos.models import Memo, MemoStatus
from tests.factories import make_company, make_token, make_user
from tests.live_server import free_port
from tests.providers.smtp_server import RecordingHandler, smtp_server
from tests.twilio_signing import ACCOUNT_SID, AUTH_TOKEN

REPO = Path(__file__).resolve().parents[2]
SETTLE_WITHIN = 15.0  # seconds from the restarted server's first answer
SETTLED = (DeliveryStatus.sent, DeliveryStatus.delivered)


@contextmanager
def twilio_standin() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.twilio_standin", "--port", str(port), "--delay-ms", "20"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/healthz"), timeout=20, what="the Twilio stand-in")
        yield base
    finally:
        process.kill()
        process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(check: Any, *, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


class Server:
    """`relay serve` (web app and dispatcher) as a child process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        child_env.update(env)
        child_env.update({"RELAY_HOST": "127.0.0.1", "RELAY_PORT": str(self.port)})
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            env=child_env,
            cwd=log.parent,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.started = time.monotonic()

    def wait_ready(self) -> float:
        def ready() -> bool:
            assert self.process.poll() is None, "the server exited"
            return _answers(f"{self.base}/healthz")

        wait_until(ready, timeout=30, what="relay serve")
        return time.monotonic()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def post_memos(
    base: str, headers: dict[str, str], accepted: list[str], stop: threading.Event
) -> None:
    """An operator taking memos, one after another, until the server stops answering."""
    kinds = [
        {"urgency": "urgent", "category": "complaint"},  # director: SMS and email
        {"urgency": "normal", "category": "complaint"},  # director and office: email
        {"urgency": "normal", "category": "inquiry"},  # office: email
    ]
    with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
        for n in range(60):
            if stop.is_set():
                return
            memo = {
                "client": "sakura-dental",
                "caller": {"name": f"山田 {n}", "phone": "090-1111-2222"},
                "subject": f"伝言 {n}",
                "body": "折り返しを希望。",
                **kinds[n % len(kinds)],
            }
            try:
                answer = client.post("/api/v1/memos", json=memo)
            except httpx.TransportError:
                return  # killed: this one was never seen accepted
            if answer.status_code == 201:
                accepted.append(answer.json()["id"])
            time.sleep(0.02)


def settled(engine: Engine, memo_ids: list[str]) -> list[Delivery]:
    """The deliveries of `memo_ids` not settled yet."""
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(select(Delivery).where(col(Delivery.memo_id).in_(memo_ids))).all()
        session.commit()
    return [row for row in rows if row.status not in SETTLED]


def test_memos_accepted_before_a_kill_all_reach_their_contacts_and_no_sms_goes_twice(
    engine: Engine, session: Session, database_url: str, tmp_path: Path
) -> None:
    company = make_company(session, hours=None)
    assert company.slug == "sakura-dental"
    operator = make_user(session, email="op@relay.example", role=Role.operator)
    headers = make_token(session, operator)
    handler = RecordingHandler(hold_data=1)  # the first email: kept, never answered

    with smtp_server(handler) as mail, twilio_standin() as twilio:
        # The first SMS: Twilio creates it, the answer never comes. The second: never created.
        assert httpx.post(f"{twilio}/hold?plan=created,lost").status_code == 200
        env = {
            "RELAY_DATABASE_URL": database_url,
            "RELAY_SECRET_KEY": "crash-test-secret-key-0123",
            "RELAY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "RELAY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "RELAY_TWILIO_SMS_FROM": "+815000000000",
            "RELAY_TWILIO_API_BASE": twilio,
            "RELAY_SMTP_HOST": "127.0.0.1",
            "RELAY_SMTP_PORT": str(mail.port),
            "RELAY_SMTP_TLS": "none",
            "RELAY_MAIL_FROM": "Relay <relay@relay.example.jp>",
        }
        log = tmp_path / "serve.log"

        first = Server(env, log)
        accepted: list[str] = []
        try:
            first.wait_ready()
            stop_posting = threading.Event()
            operator_thread = threading.Thread(
                target=post_memos, args=(first.base, headers, accepted, stop_posting)
            )
            operator_thread.start()

            def held() -> bool:
                arrivals = httpx.get(f"{twilio}/arrivals").json()["arrivals"]
                return handler.held == 1 and sum(bool(a["held"]) for a in arrivals) == 2

            wait_until(lambda: held() and len(accepted) >= 10, timeout=30, what="the holds")
            first.stop(signal.SIGKILL)
            stop_posting.set()
            operator_thread.join(timeout=10)
        except BaseException:
            first.stop(signal.SIGKILL)
            raise

        in_flight = settled(engine, accepted)
        assert {row.status for row in in_flight} >= {DeliveryStatus.sending}

        second = Server(env, log)
        try:
            ready_at = second.wait_ready()
            wait_until(
                lambda: not settled(engine, accepted),
                timeout=SETTLE_WITHIN + 10,
                what=f"every delivery to settle; see {log}",
            )
            since_ready = time.monotonic() - ready_at
        finally:
            second.stop()
        arrivals = httpx.get(f"{twilio}/arrivals").json()["arrivals"]
        emails = handler.messages()

    with Session(engine, expire_on_commit=False) as check:
        memos = check.exec(select(Memo).where(col(Memo.id).in_(accepted))).all()
        rows = check.exec(select(Delivery).where(col(Delivery.memo_id).in_(accepted))).all()
        check.commit()
    print(
        f"\n{engine.dialect.name}: {len(accepted)} memos accepted, {len(in_flight)} deliveries "
        f"unsettled at the kill; the restarted server took {ready_at - second.started:.1f} s "
        f"to answer and settled the last {since_ready:.1f} s after that"
    )
    assert since_ready <= SETTLE_WITHIN
    # Every memo the operator saw accepted reached its contacts, on every channel.
    assert {memo.status for memo in memos} <= {MemoStatus.sent, MemoStatus.delivered}
    assert len(memos) == len(accepted)
    assert {row.status for row in rows} <= set(SETTLED)
    # No SMS went out twice: Twilio created exactly one message per SMS delivery.
    sms = {row.id for row in rows if row.channel == Channel.sms}
    created = Counter(str(a["delivery"]) for a in arrivals if a["created"])
    assert {delivery: created[delivery] for delivery in sms} == dict.fromkeys(sms, 1)
    posted = Counter(str(a["delivery"]) for a in arrivals)
    held_created, held_lost = (str(a["delivery"]) for a in arrivals if a["held"])
    assert posted[held_created] == 1  # found at Twilio after the restart: not sent again
    assert posted[held_lost] == 2  # Twilio had no record of it: sent after the restart
    # Every email arrived; the one whose answer was lost arrived twice, under one Message-ID.
    by_delivery: dict[str, set[str]] = {}
    for mail_message in emails:
        by_delivery.setdefault(mail_message["X-Relay-Delivery"], set()).add(
            mail_message["Message-ID"]
        )
    email_rows = [row for row in rows if row.channel == Channel.email]
    assert {row.id for row in email_rows} <= set(by_delivery)
    assert all(len(ids) == 1 for ids in by_delivery.values())
    copies = Counter(mail_message["X-Relay-Delivery"] for mail_message in emails)
    assert copies[emails[0]["X-Relay-Delivery"]] == 2  # the one held when the server died
