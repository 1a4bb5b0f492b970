"""The people and platforms of the load mix (bench/mix.py), as locust users.

Run by the driver only, as its own process (locust brings gevent, which the driver and the
app never import):

    MIX_CONFIG=/tmp/…/mix.json .venv/bin/locust -f bench/mix_users.py --headless …

MIX_CONFIG names the JSON the driver wrote after seeding: the Relay servers to spread users
over, the stand-in Twilio, the tokens, the companies and the memos already there. Each locust
user is one of a bureau's many hands in turn, one task at a time at a fixed throughput; a
task's weight is its share of the day (see bench/mix.py for the reasoning).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment
from twilio.request_validator import RequestValidator

from service.memos.ack_links import make_ack_token
from service.providers.chat.slack import ACK_ACTION_ID

CONFIG: dict[str, Any] = json.loads(Path(os.environ["MIX_CONFIG"]).read_text(encoding="utf-8"))

LINK = re.compile(r"/a/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
SEARCH_WORDS = ["配送の遅れ", "雨漏り", "折り返し", "山田商事"]
CATEGORIES = ["complaint", "inquiry", "callback", "order", "other"]
_hosts = itertools.cycle(CONFIG["hosts"])

# Shared by every user of this process (one locust process, one gevent loop).
_memos: dict[int, deque[str]] = {
    int(k): deque(v, maxlen=500) for k, v in CONFIG["history"].items()
}  # company index → its memo ids, newest last
_unacknowledged: deque[tuple[int, str]] = deque(maxlen=2000)  # memos taken in this run
_calls: dict[int, deque[str]] = {}  # company index → CallSids that rang, not yet in a memo
_links: deque[str] = deque()  # ack tokens read from SMS the stand-in received, not yet used
_links_seen: set[str] = set()
_toured: list[bool] = []  # whether a user has done every task once
_validator = RequestValidator(CONFIG["auth_token"])


def _company() -> tuple[int, dict[str, Any]]:
    index = random.randrange(len(CONFIG["companies"]))
    return index, CONFIG["companies"][index]


def _client() -> dict[str, Any]:
    return random.choice(CONFIG["clients"])


def _phone_shown(serial: int) -> str:
    """A caller's number as people type it (090-1234-5678)."""
    digits = f"090{CONFIG['caller_base'] + serial:08d}"
    return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"


def _refill_links() -> None:
    """Ack links from the newest SMS the stand-in received, as a contact would tap them."""
    url = f"{CONFIG['standin']}/2010-04-01/Accounts/{CONFIG['account_sid']}/Messages.json"
    with urllib.request.urlopen(url + "?PageSize=200", timeout=10) as answer:  # noqa: S310
        messages = json.loads(answer.read())["messages"]
    for message in reversed(messages):  # oldest first
        found = LINK.search(message["body"])
        if found and found.group(1) not in _links_seen:
            _links_seen.add(found.group(1))
            _links.append(found.group(1))


def _chat_token(key: str) -> str | None:
    """The token Relay puts on a memo's chat button for destination `key`, for a memo taken
    in this run and not yet acknowledged (else one from the history)."""
    if _unacknowledged:
        _, memo_id = _unacknowledged.popleft()
    else:
        index, _ = _company()
        if not _memos.get(index):
            return None
        memo_id = random.choice(_memos[index])
    return make_ack_token(secret=CONFIG["secret_key"], memo_id=memo_id, contact_key=key)


_environment: list[Environment] = []
_tasks = {"started": 0, "done": 0}  # tasks begun, and finished (answered or failed)


def counted(work: Callable[[BureauDay], None]) -> Callable[[BureauDay], None]:
    """The task, counted when it starts and when it ends: one still waiting for an answer
    when locust stops (after `--stop-timeout`) is a request the load never saw answered."""

    @functools.wraps(work)
    def run(user: BureauDay) -> None:
        _tasks["started"] += 1
        try:
            work(user)
        finally:
            _tasks["done"] += 1

    return run


@events.init.add_listener
def _remember(environment: Environment, **_: Any) -> None:
    _environment.append(environment)


@events.quit.add_listener
def _write_figures(exit_code: int, **_: Any) -> None:
    """Every request's figures, written for the driver (MIX_RESULT) once the last answer is in:
    locust's own CSV files are written every second and may miss the last one's."""
    path = os.environ.get("MIX_RESULT")
    runner = _environment[0].runner if _environment else None
    if not path or runner is None:
        return
    stats = runner.stats
    figures = {
        "routes": [
            {
                "name": entry.name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "max": entry.max_response_time,
                # Milliseconds, rounded as locust rounds them, and how many took that long.
                "times": {str(ms): count for ms, count in entry.response_times.items()},
            }
            for entry in stats.entries.values()
        ],
        "errors": [
            {"name": error.name, "error": str(error.error), "occurrences": error.occurrences}
            for error in stats.errors.values()
        ],
        "tasks": _tasks,
        "exceptions": [
            {"count": found["count"], "message": found["msg"]}
            for found in runner.exceptions.values()
        ],
    }
    Path(path).write_text(json.dumps(figures, ensure_ascii=False), encoding="utf-8")


class BureauDay(FastHttpUser):
    """Calls, memos, a client's portal, contacts acknowledging, chat buttons pressed."""

    wait_time = constant_throughput(float(CONFIG["throughput"]))

    def __init__(self, environment: Any) -> None:
        # Users are spread over the app servers in turn (one in SQLite's case).
        self.host = next(_hosts)
        super().__init__(environment)

    def on_start(self) -> None:
        """The first user does every task once first, so that even a short run sends every
        kind of request and a route that fails cannot go unnoticed by chance."""
        if _toured:
            return
        _toured.append(True)
        for one in (
            self.call_rings,
            self.take_memo,
            self.portal_page,
            self.portal_memo,
            self.memo_list,
            self.read_memo,
            self.search_words,
            self.search_phone,
            self.portal_ack,
            self.ack_link,
            self.slack_button,
            self.line_postback,
        ):
            one.__wrapped__(self)  # type: ignore[attr-defined]  # not counted: not paced

    def _call(
        self, method: str, path: str, *, status: int = 200, needle: str | None = None, **kw: Any
    ) -> Any:
        """Send one request, named for locust's tables, and judge its answer."""
        with self.client.request(method, path, catch_response=True, **kw) as response:
            self._expect(response, status, needle)
        return response

    def _expect(self, response: Any, status: int, needle: str | None = None) -> None:
        # No answer at all (a reset or a timeout) has no text, only an error.
        text = response.text or ""
        if response.status_code != status:
            said = text[:200] if text else repr(getattr(response, "error", None))
            response.failure(f"HTTP {response.status_code}: {said!r}")
        elif needle is not None and needle not in text:
            response.failure(f"no {needle!r} in the answer")
        else:
            response.success()

    # --- the phones ring ------------------------------------------------------------------

    @task(20)
    @counted
    def call_rings(self) -> None:
        index, company = _company()
        call_sid = "CA" + uuid.uuid4().hex
        form = {
            "AccountSid": CONFIG["account_sid"],
            "ApiVersion": "2010-04-01",
            "CallSid": call_sid,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "From": f"+8190{random.randrange(100_000_000):08d}",
            "To": company["number"],
        }
        signature = _validator.compute_signature(CONFIG["public_base"] + "/twilio/voice", form)
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        response = self._call(
            "POST",
            "/twilio/voice",
            data=urlencode(form),
            headers=headers,
            name="POST /twilio/voice",
            needle="<Response>",
        )
        if response.status_code == 200:
            _calls.setdefault(index, deque(maxlen=200)).append(call_sid)

    # --- operators take memos --------------------------------------------------------------

    @task(15)
    @counted
    def take_memo(self) -> None:
        index, company = _company()
        serial = random.randrange(CONFIG["callers"])
        category = random.choice(CATEGORIES)
        body: dict[str, Any] = {
            "client": company["slug"],
            "category": category,
            "urgency": "urgent" if random.random() < 0.1 else "normal",
            "caller": {"name": "山田 太郎", "phone": _phone_shown(serial), "company": "山田商事"},
            "subject": f"配送の遅れについて（{uuid.uuid4().hex[:6]}）",
            "body": "先週注文した商品がまだ届いていないとのこと。折り返しのお電話をご希望です。",
            "fields": {"order_no": f"A-{serial:06d}"},
        }
        rang = _calls.get(index)
        if rang:
            body["call_sid"] = rang.popleft()  # the call this memo was taken on
        headers = {
            "Authorization": f"Bearer {random.choice(CONFIG['operators'])}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        response = self._call(
            "POST",
            "/api/v1/memos",
            json=body,
            headers=headers,
            name="POST /api/v1/memos",
            status=201,
        )
        if response.status_code == 201:
            memo_id = response.json()["id"]
            _memos.setdefault(index, deque(maxlen=500)).append(memo_id)
            _unacknowledged.append((index, memo_id))

    # --- the client company reads its memos -------------------------------------------------

    def _as_client(self) -> tuple[dict[str, str], int]:
        client = _client()
        return {"Authorization": f"Bearer {client['token']}"}, int(client["company"])

    def _one_of(self, index: int) -> str | None:
        found = _memos.get(index)
        return random.choice(found) if found else None

    @task(12)
    @counted
    def portal_page(self) -> None:
        headers, _ = self._as_client()
        self._call("GET", "/portal", headers=headers, name="GET /portal")

    @task(3)
    @counted
    def portal_memo(self) -> None:
        headers, index = self._as_client()
        memo_id = self._one_of(index)
        if memo_id is None:
            return self.portal_page()
        self._call(
            "GET", f"/portal/memos/{memo_id}", headers=headers, name="GET /portal/memos/{id}"
        )
        return None

    @task(10)
    @counted
    def memo_list(self) -> None:
        headers, _ = self._as_client()
        self._call("GET", "/api/v1/memos", headers=headers, name="GET /api/v1/memos")

    @task(12)
    @counted
    def read_memo(self) -> None:
        headers, index = self._as_client()
        memo_id = self._one_of(index)
        if memo_id is None:
            return self.memo_list()
        self._call(
            "GET", f"/api/v1/memos/{memo_id}", headers=headers, name="GET /api/v1/memos/{id}"
        )
        return None

    @task(8)
    @counted
    def search_words(self) -> None:
        headers, _ = self._as_client()
        self._call(
            "GET",
            "/api/v1/memos",
            params={"q": random.choice(SEARCH_WORDS)},
            headers=headers,
            name="GET /api/v1/memos?q=(Japanese)",
        )

    @task(5)
    @counted
    def search_phone(self) -> None:
        headers, _ = self._as_client()
        self._call(
            "GET",
            "/api/v1/memos",
            params={"q": _phone_shown(random.randrange(CONFIG["callers"]))},
            headers=headers,
            name="GET /api/v1/memos?q=(phone)",
        )

    @task(2)
    @counted
    def portal_ack(self) -> None:
        headers, index = self._as_client()
        memo_id = self._one_of(index)
        if memo_id is None:
            return self.memo_list()
        self._call(
            "POST",
            f"/api/v1/memos/{memo_id}/ack",
            json={},
            headers=headers,
            name="POST /api/v1/memos/{id}/ack",
        )
        return None

    # --- contacts acknowledge from the SMS ----------------------------------------------------

    @task(8)
    @counted
    def ack_link(self) -> None:
        if not _links:
            _refill_links()
        if _links:
            token = _links.popleft()
        else:  # no SMS yet: a link to a memo of the history, signed as Relay signs them
            index, _ = _company()
            memo_id = self._one_of(index)
            if memo_id is None:
                return None
            token = make_ack_token(
                secret=CONFIG["secret_key"], memo_id=memo_id, contact_key="office"
            )
        self._call("GET", f"/a/{token}", name="GET /a/{token}")
        self._call("POST", f"/a/{token}", name="POST /a/{token}")
        return None

    # --- chat platforms call back -------------------------------------------------------------

    @task(3)
    @counted
    def slack_button(self) -> None:
        token = _chat_token(CONFIG["slack_key"])
        if token is None:
            return
        payload = {
            "type": "block_actions",
            "user": {"id": "U0BENCH01", "username": "sato", "name": "sato"},
            "channel": {"id": CONFIG["slack_channel"], "name": "relay"},
            "container": {"type": "message", "channel_id": CONFIG["slack_channel"]},
            "actions": [
                {"action_id": ACK_ACTION_ID, "type": "button", "value": token, "block_id": "b"}
            ],
        }
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        stamp = str(int(time.time()))
        mac = hmac.new(
            CONFIG["slack_signing_secret"].encode(),
            f"v0:{stamp}:{body}".encode(),
            hashlib.sha256,
        ).hexdigest()
        headers = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={mac}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self._call("POST", "/hooks/slack", data=body, headers=headers, name="POST /hooks/slack")

    @task(2)
    @counted
    def line_postback(self) -> None:
        token = _chat_token(CONFIG["line_key"])
        if token is None:
            return
        event = {
            "type": "postback",
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "webhookEventId": uuid.uuid4().hex.upper()[:26],
            "deliveryContext": {"isRedelivery": False},
            "replyToken": uuid.uuid4().hex,
            "source": {"type": "user", "userId": "U" + uuid.uuid4().hex},
            "postback": {"data": token},
        }
        # ASCII (JSON escapes the rest), so the text sent is the bytes signed.
        body = json.dumps({"destination": "U" + "0" * 32, "events": [event]})
        signature = base64.b64encode(
            hmac.new(CONFIG["line_channel_secret"].encode(), body.encode(), hashlib.sha256).digest()
        ).decode()
        headers = {"X-Line-Signature": signature, "Content-Type": "application/json"}
        self._call("POST", "/hooks/line", data=body, headers=headers, name="POST /hooks/line")
