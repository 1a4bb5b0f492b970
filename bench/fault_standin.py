"""Local stand-ins for every provider Relay sends through, which can be told to misbehave.

One process serves, each on a port of its own on 127.0.0.1:

- `sms`: Twilio's Messages API (`POST` and `GET /2010-04-01/Accounts/{sid}/Messages.json`),
  with status callbacks (`sent`, then `delivered`) signed as Twilio signs them, once told
  where Relay listens;
- `email`: an SMTP server (aiosmtpd, the real protocol);
- `slack`: `chat.postMessage`, `chat.update` and `conversations.history` under `/api`;
- `chatwork`: `/v2/rooms/{room}/messages` (post, list) and `/v2/rooms/{room}/messages/{id}`;
- `line`: `/v2/bot/message/push`, honouring `X-Line-Retry-Key` (a key taken once is
  answered 409 ever after, as LINE does);
- `lineworks`: `/v1.0/bots/{bot}/channels|users/{id}/messages` and the token endpoint
  `/oauth2/v2.0/token`;
- `teams`: Workflows webhooks at `/workflows/{name}` (202);
- `webhook`: a Standard Webhooks receiver at `/hooks/{name}` (204).

Every request is noted as an arrival: its channel, recipient, the key that names the message
(the delivery id of an SMS, an email's Message-ID, a Slack message's metadata, a Chatwork
marker, LINE's retry key, the `webhook-id`; for LINE WORKS and Teams, which have none, the
recipient and the memo tag), any memo tags in it (`FX` and five digits, see `MEMO_TAG`), the
fault it met, and whether the message was *taken* (kept as the platform would keep it).

A control server on `--port` switches faults on per channel, for the next N requests or for
T seconds:

    POST /faults {"channel": "slack", "mode": "cut", "count": 3, "taken": "alternate"}
    POST /faults {"channel": "sms", "mode": "refuse", "seconds": 5}

HTTP modes: `refuse` (the listening socket is closed: connections are refused; `seconds`
only, as a refused connection never reaches the stand-in to be counted), `400` (refused for
good: for Twilio, 21211 an invalid `To`), `429` (with
`Retry-After: retry_after`), `500`, `503`, `hang` (the request is read and never answered
until the client gives up) and `cut` (the status line and headers of a complete answer, then
the connection closes). SMTP modes: `refuse`, `421` and `451` (temporary, at RCPT), `550`
(permanent, at RCPT), `drop` (the message is read, then the connection closes before the
answer to DATA) and `hang` (no answer to DATA until the client gives up). For the modes after
which the message may or may not have been taken (`500`, `503`, `hang`, `cut`, `drop`),
`taken` says whether it was: `yes`, `no`, or `alternate` (yes, no, yes, ...); with `"report":
false`, an SMS taken under the fault gets no status callbacks, so only a look-up finds it.

`GET /ports` names each channel's port, `GET /arrivals[?channel=]` lists arrivals, `GET
/counts` counts them per channel by recipient and by message key, `POST /callbacks
{"relay": URL, "public": URL, "auth_token": ...}` says where status callbacks go (signed over
the public URL, sent to Relay's own address), and `POST /reset` forgets everything.

    python -m bench.fault_standin --port 8790
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import itertools
import json
import re
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11
import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session
from twilio.request_validator import RequestValidator

from bench.twilio_standin import message_resource, messages_page

HTTP_CHANNELS = ("sms", "slack", "chatwork", "line", "lineworks", "teams", "webhook")
CHANNELS = (*HTTP_CHANNELS, "email")
HTTP_MODES = frozenset({"refuse", "400", "429", "500", "503", "hang", "cut"})
SMTP_MODES = frozenset({"refuse", "421", "451", "550", "drop", "hang"})
# Modes after which the message may have been taken or not, as `taken` says.
MAYBE_TAKEN = frozenset({"500", "503", "hang", "cut", "drop"})
# A tag a memo's subject carries, so a message on any channel names the memo it is about.
MEMO_TAG = re.compile(r"FX[0-9]{5}")
# The longest a hung request is held when its client never gives up.
HANG_CAP = 120.0
# How long after a message is taken Twilio reports it sent, then delivered.
CALLBACK_DELAYS = (0.3, 0.6)
CHATWORK_MARKER = re.compile(r"#relay-[0-9a-f]{16}")


@dataclass
class Fault:
    """A fault switched on for one channel: for `remaining` requests, or until `until`."""

    mode: str
    remaining: int | None = None
    until: float | None = None
    retry_after: int = 2
    taken: str = "alternate"
    # Whether a message taken under the fault is reported by status callbacks (Twilio).
    report: bool = True
    flips: itertools.cycle[bool] = field(default_factory=lambda: itertools.cycle([True, False]))
    met: int = 0

    def active(self) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.until is None or time.monotonic() < self.until

    def take(self) -> tuple[str, bool]:
        """Apply the fault to one request: its mode, and whether the message is taken."""
        if self.remaining is not None:
            self.remaining -= 1
        self.met += 1
        if self.mode not in MAYBE_TAKEN:
            return self.mode, False
        if self.taken == "alternate":
            return self.mode, next(self.flips)
        return self.mode, self.taken == "yes"


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Whether the platform kept the message this request carried.
    taken: bool = False

    @classmethod
    def json(cls, status: int, data: Any, *, taken: bool = False, **headers: str) -> Answer:
        body = json.dumps(data, ensure_ascii=False).encode()
        pairs = [("content-type", "application/json"), *headers.items()]
        return cls(status, body, [(k.replace("_", "-"), v) for k, v in pairs], taken)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    # Whether Twilio reports on a message it took (status callbacks); a fault may lose them.
    reported: bool = True

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Arrival:
    channel: str
    at: float
    recipient: str
    key: str
    tags: list[str]
    event: str = ""
    fault: str | None = None
    taken: bool = False
    status: int | None = None
    what: str = "message"  # "message", or a look-up / token request that carries none

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def tags_in(text: str) -> list[str]:
    return sorted(set(MEMO_TAG.findall(text)))


class Platforms:
    """What each stand-in platform keeps, and how it answers each request."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.sms: list[dict[str, Any]] = []  # oldest first
        self.slack: list[dict[str, Any]] = []
        self.chatwork: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.line_keys: dict[str, str] = {}  # retry key -> the message id it made
        self.serial = itertools.count(1)
        self.callbacks: dict[str, str] = {}
        self.callback_tasks: set[asyncio.Task[None]] = set()
        self.callbacks_failed = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def note(self, arrival: Arrival) -> Arrival:
        self.arrivals.append(arrival)
        return arrival

    # --- Twilio ---------------------------------------------------------------------------

    async def sms_api(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        if request.method == "GET":
            return self.note(Arrival("sms", time.monotonic(), "", "", [], what="lookup")), (
                self._sms_list(request)
            )
        form = request.form()
        callback = form.get("StatusCallback", "")
        delivery = parse_qs(urlsplit(callback).query).get("d", [""])[0]
        to, body = form.get("To", ""), form.get("Body", "")
        arrival = self.note(Arrival("sms", time.monotonic(), to, delivery, tags_in(body)))
        sender = form.get("From") or form.get("MessagingServiceSid") or ""
        message = message_resource(to=to, sender=sender, body=body)
        if keep:
            self.sms.append(message)
            if request.reported:
                self._report(message, callback)
        return arrival, Answer.json(201, message, taken=keep)

    def _sms_list(self, request: Request) -> Answer:
        return Answer.json(200, messages_page(self.sms, query=request.query, path=request.path))

    def _report(self, message: dict[str, Any], callback: str) -> None:
        """Twilio's status callbacks for a message it took: sent, then delivered."""
        if not callback or not self.callbacks:
            return
        task = asyncio.create_task(self._callbacks(message, callback))
        self.callback_tasks.add(task)
        task.add_done_callback(self.callback_tasks.discard)

    async def _callbacks(self, message: dict[str, Any], callback: str) -> None:
        public, relay = self.callbacks["public"], self.callbacks["relay"]
        validator = RequestValidator(self.callbacks["auth_token"])
        local = relay.rstrip("/") + callback.removeprefix(public.rstrip("/"))
        async with httpx.AsyncClient(timeout=10) as client:
            for word, delay in zip(("sent", "delivered"), CALLBACK_DELAYS, strict=True):
                await asyncio.sleep(delay)
                message["status"] = word
                form = {
                    "MessageSid": message["sid"],
                    "MessageStatus": word,
                    "To": message["to"],
                    "From": message["from"],
                    "AccountSid": "AC" + "0" * 32,
                }
                signature = validator.compute_signature(callback, form)
                try:
                    answer = await client.post(
                        local, data=form, headers={"X-Twilio-Signature": signature}
                    )
                    if answer.status_code >= 300:
                        self.callbacks_failed += 1
                except httpx.HTTPError:
                    self.callbacks_failed += 1

    # --- Slack ----------------------------------------------------------------------------

    async def slack_api(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        method = request.path.rsplit("/", 1)[-1]
        if method == "conversations.history":
            arrival = Arrival("slack", time.monotonic(), "", "", [], what="lookup")
            return self.note(arrival), self._slack_history(request)
        body = request.json()
        payload = (body.get("metadata") or {}).get("event_payload") or {}
        channel = str(body.get("channel", ""))
        arrival = self.note(
            Arrival(
                "slack",
                time.monotonic(),
                channel,
                str(payload.get("delivery_id", "")),
                tags_in(request.text()),
                event=str(payload.get("event", "")),
                what="message" if method == "chat.postMessage" else "edit",
            )
        )
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return arrival, Answer.json(200, {"ok": False, "error": "not_authed"})
        if method == "chat.update":
            found = [m for m in self.slack if m["channel"] == channel and m["ts"] == body.get("ts")]
            if not found:
                return arrival, Answer.json(200, {"ok": False, "error": "message_not_found"})
            if keep:
                found[0].update(metadata=body.get("metadata"), text=body.get("text"))
            return arrival, Answer.json(
                200, {"ok": True, "channel": channel, "ts": body["ts"]}, taken=keep
            )
        ts = f"{int(time.time())}.{next(self.serial):06d}"
        if keep:
            self.slack.append(
                {
                    "channel": channel,
                    "ts": ts,
                    "text": body.get("text"),
                    "metadata": body.get("metadata"),
                }
            )
        message = {"type": "message", "text": body.get("text"), "ts": ts}
        data = {"ok": True, "channel": channel, "ts": ts, "message": message}
        return arrival, Answer.json(200, data, taken=keep)

    def _slack_history(self, request: Request) -> Answer:
        query = request.query
        channel = query.get("channel", "")
        oldest, latest = float(query.get("oldest") or 0), float(query.get("latest") or 1e12)
        limit = int(query.get("limit") or 100)
        start = int(query.get("cursor") or 0)
        with_metadata = query.get("include_all_metadata") == "true"
        found = [
            {
                "type": "message",
                "ts": m["ts"],
                "text": m["text"],
                **({"metadata": m["metadata"]} if with_metadata else {}),
            }
            for m in reversed(self.slack)
            if m["channel"] == channel and oldest <= float(m["ts"]) <= latest
        ]
        page = found[start : start + limit]
        more = len(found) > start + limit
        data = {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }
        return Answer.json(200, data)

    # --- Chatwork -------------------------------------------------------------------------

    async def chatwork_api(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        parts = request.path.strip("/").split("/")  # v2 rooms {room} messages [{id}]
        room = parts[2] if len(parts) > 2 else ""
        if not request.headers.get("x-chatworktoken"):
            arrival = self.note(Arrival("chatwork", time.monotonic(), room, "", []))
            return arrival, Answer.json(401, {"errors": ["Invalid API token"]})
        if request.method == "GET":
            arrival = self.note(Arrival("chatwork", time.monotonic(), room, "", [], what="lookup"))
            return arrival, self._chatwork_list(room, parts)
        form = request.form()
        text = form.get("body", "")
        found = CHATWORK_MARKER.search(text)
        arrival = self.note(
            Arrival(
                "chatwork",
                time.monotonic(),
                room,
                found.group(0) if found else "",
                tags_in(text),
                what="message" if request.method == "POST" else "edit",
            )
        )
        if request.method == "PUT":
            edited = [m for m in self.chatwork[room] if m["message_id"] == parts[-1]]
            if not edited:
                return arrival, Answer.json(404, {"errors": ["Message not found"]})
            if keep:
                edited[0]["body"] = text
            return arrival, Answer.json(200, {"message_id": parts[-1]}, taken=keep)
        message_id = str(1_000_000_000 + next(self.serial))
        if keep:
            self.chatwork[room].append(
                {
                    "message_id": message_id,
                    "account": {"account_id": 1, "name": "Relay"},
                    "body": text,
                    "send_time": int(time.time()),
                    "update_time": 0,
                }
            )
        return arrival, Answer.json(200, {"message_id": message_id}, taken=keep)

    def _chatwork_list(self, room: str, parts: list[str]) -> Answer:
        messages = self.chatwork.get(room, [])
        if len(parts) > 4:
            found = [m for m in messages if m["message_id"] == parts[4]]
            if not found:
                return Answer.json(404, {"errors": ["Message not found"]})
            return Answer.json(200, found[0])
        if not messages:
            return Answer(204)
        return Answer.json(200, messages[-100:])

    # --- LINE -----------------------------------------------------------------------------

    async def line_api(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        body = request.json()
        key = request.headers.get("x-line-retry-key", "")
        arrival = self.note(
            Arrival("line", time.monotonic(), str(body.get("to", "")), key, tags_in(request.text()))
        )
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return arrival, Answer.json(401, {"message": "Authentication failed"})
        if key and key in self.line_keys:
            sent = [{"id": self.line_keys[key], "quoteToken": "q" + key[:8]}]
            return arrival, Answer.json(
                409,
                {"message": "The retry key is already accepted", "sentMessages": sent},
                x_line_accepted_request_id=str(uuid.uuid4()),
            )
        message_id = str(500_000_000_000 + next(self.serial))
        if keep and key:
            self.line_keys[key] = message_id
        sent = [{"id": message_id, "quoteToken": "q" + message_id}]
        return arrival, Answer.json(
            200, {"sentMessages": sent}, taken=keep, x_line_request_id=str(uuid.uuid4())
        )

    # --- LINE WORKS -----------------------------------------------------------------------

    async def lineworks_api(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        if request.path.endswith("/token"):
            arrival = self.note(Arrival("lineworks", time.monotonic(), "", "", [], what="token"))
            token = {
                "access_token": "lw-" + uuid.uuid4().hex,
                "refresh_token": "lwr-" + uuid.uuid4().hex,
                "scope": "bot",
                "token_type": "Bearer",
                "expires_in": "86400",
            }
            return arrival, Answer.json(200, token)
        parts = request.path.strip("/").split("/")  # v1.0 bots {bot} channels|users {id} messages
        recipient = f"{parts[3].removesuffix('s')}:{parts[4]}" if len(parts) > 4 else ""
        tags = tags_in(request.text())
        arrival = self.note(
            Arrival("lineworks", time.monotonic(), recipient, f"{recipient}/{','.join(tags)}", tags)
        )
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return arrival, Answer.json(401, {"code": "UNAUTHORIZED", "description": "no token"})
        return arrival, Answer(201, taken=keep)

    # --- Teams and webhooks ---------------------------------------------------------------

    async def teams_api(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        tags = tags_in(request.text())
        arrival = self.note(
            Arrival(
                "teams", time.monotonic(), request.path, f"{request.path}/{','.join(tags)}", tags
            )
        )
        run = [("x-ms-workflow-run-id", f"0858{next(self.serial):010d}")]
        return arrival, Answer(202, headers=run, taken=keep)

    async def webhook_api(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        event = str(request.json().get("type", ""))
        arrival = self.note(
            Arrival(
                "webhook",
                time.monotonic(),
                request.path,
                request.headers.get("webhook-id", ""),
                tags_in(request.text()),
                event=event,
            )
        )
        return arrival, Answer(204, taken=keep)


FAULT_ANSWERS: dict[str, dict[str, Callable[[Fault], Answer]]] = {
    "429": {
        "sms": lambda f: Answer.json(
            429,
            {"code": 20429, "message": "Too Many Requests", "status": 429},
            retry_after=str(f.retry_after),
        ),
        "slack": lambda f: Answer.json(
            429, {"ok": False, "error": "ratelimited"}, retry_after=str(f.retry_after)
        ),
        "chatwork": lambda f: Answer.json(
            429, {"errors": ["Rate limit exceeded"]}, retry_after=str(f.retry_after)
        ),
    },
}


def _fault_answer(channel: str, fault: Fault, mode: str) -> Answer:
    special = FAULT_ANSWERS.get(mode, {}).get(channel)
    if special is not None:
        return special(fault)
    status = int(mode)
    extra = [("retry-after", str(fault.retry_after))] if status in (429, 503) else []
    if channel == "sms" and status == 400:
        data: dict[str, Any] = {
            "code": 21211,
            "message": "The 'To' number is not a valid phone number.",
            "status": 400,
        }
    elif channel == "sms":
        data = {"code": 20000 + status, "message": "Service trouble", "status": status}
    elif channel == "slack":
        words = {400: "invalid_arguments", 500: "internal_error"}
        data = {"ok": False, "error": words.get(status, "service_unavailable")}
    else:
        data = {"message": f"HTTP {status} from the stand-in"}
    answer = Answer.json(status, data)
    answer.headers += extra
    return answer


class HttpChannel:
    """One platform's port: an HTTP/1.1 server (one request per connection) that can refuse."""

    def __init__(
        self,
        channel: str,
        port: int,
        handler: Callable[[Request, bool], Awaitable[tuple[Arrival, Answer]]],
        faults: dict[str, Fault],
    ) -> None:
        self.channel = channel
        self.port = port
        self.handler = handler
        self.faults = faults
        self.server: asyncio.Server | None = None

    async def open(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self._connection, "127.0.0.1", self.port, reuse_address=True
            )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is not None:
                await self._answer(request, reader, writer)
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        fault = self.faults.get(self.channel)
        # A refusal happens at the socket: a connection accepted before it closed is served.
        faulty = fault is not None and fault.active() and fault.mode != "refuse"
        mode, taken = fault.take() if fault is not None and faulty else (None, True)
        keep = mode is None or (mode in MAYBE_TAKEN and taken)
        request.reported = mode is None or fault is None or fault.report
        arrival, answer = await self.handler(request, keep)
        arrival.fault = mode
        arrival.taken = answer.taken
        if mode is None:
            pass
        elif mode == "hang":
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.read(), timeout=HANG_CAP)
            return
        elif mode == "cut":
            writer.write(_head(answer, cut=True))
            await writer.drain()
            return
        else:
            answer = _fault_answer(self.channel, fault, mode)  # type: ignore[arg-type]
        arrival.status = answer.status
        writer.write(_head(answer) + answer.body)
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    connection = h11.Connection(h11.SERVER)
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            connection.receive_data(data)
            if not data and head is None:
                return None
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            target = head.target.decode()
            parts = urlsplit(target)
            return Request(
                method=head.method.decode(),
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers={k.decode().lower(): v.decode() for k, v in head.headers},
                body=bytes(body),
            )
        elif isinstance(event, h11.ConnectionClosed):
            return None


_REASONS = {
    400: "Bad Request",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _head(answer: Answer, *, cut: bool = False) -> bytes:
    """The status line and headers; a cut answer promises a body it never sends.

    A 204 has no body to promise: its cut comes before the blank line that ends the headers.
    """
    reason = _REASONS.get(answer.status, "Status")
    length = len(answer.body) if not cut else max(len(answer.body), 64)
    lines = [f"HTTP/1.1 {answer.status} {reason}", f"content-length: {length}", "connection: close"]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    end = "\r\n" if cut and answer.status == 204 else "\r\n\r\n"
    return ("\r\n".join(lines) + end).encode("latin-1")


class MailHandler:
    """The SMTP server's handler: keeps each message, or meets the fault switched on."""

    def __init__(self, platforms: Platforms, faults: dict[str, Fault]) -> None:
        self.platforms = platforms
        self.faults = faults
        self.pending: dict[int, tuple[str, bool]] = {}

    def _fault(self) -> tuple[str | None, bool]:
        fault = self.faults.get("email")
        faulty = fault is not None and fault.active() and fault.mode != "refuse"
        return fault.take() if fault is not None and faulty else (None, True)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        mode, taken = self._fault()
        if mode in ("421", "451", "550"):
            self.platforms.note(
                Arrival("email", time.monotonic(), address, "", [], fault=mode, status=int(mode))
            )
            return {
                "421": "421 4.3.2 Service not available, try again later",
                "451": "451 4.3.0 Temporary local problem, try again later",
                "550": "550 5.1.1 Mailbox unavailable",
            }[mode]
        if mode is not None:
            self.pending[id(envelope)] = (mode, taken)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mode, taken = self.pending.pop(id(envelope), (None, True))
        content = envelope.content or b""
        raw = content.encode() if isinstance(content, str) else content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        text = str(parsed.get("subject", ""))
        for part in parsed.walk():
            if part.get_content_maintype() == "text":
                with contextlib.suppress(LookupError, ValueError):
                    text += "\n" + str(part.get_content())
        for recipient in envelope.rcpt_tos:
            self.platforms.note(
                Arrival(
                    "email",
                    time.monotonic(),
                    recipient,
                    str(parsed.get("message-id", "")),
                    tags_in(text),
                    fault=mode,
                    taken=mode is None or taken,
                    status=250 if mode is None else None,
                )
            )
        if mode == "drop":
            server.transport.abort()  # type: ignore[union-attr]
            await asyncio.Event().wait()  # cancelled as the connection goes
        if mode == "hang":
            await asyncio.sleep(HANG_CAP)
        return "250 2.0.0 Message accepted for delivery"


class SmtpChannel:
    """The SMTP server's port, which can be closed (connections refused) and opened again."""

    def __init__(self, port: int, handler: MailHandler) -> None:
        self.channel = "email"
        self.port = port
        self.handler = handler
        self.server: asyncio.Server | None = None

    async def open(self) -> None:
        if self.server is None:
            loop = asyncio.get_running_loop()
            self.server = await loop.create_server(
                lambda: SMTP(self.handler, hostname="standin.local", timeout=HANG_CAP),
                "127.0.0.1",
                self.port,
                reuse_address=True,
            )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


class Standin:
    """Every platform's port, the faults switched on, and the control server's answers."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.platforms = Platforms()
        self.faults: dict[str, Fault] = {}
        p = self.platforms
        handlers = {
            "sms": p.sms_api,
            "slack": p.slack_api,
            "chatwork": p.chatwork_api,
            "line": p.line_api,
            "lineworks": p.lineworks_api,
            "teams": p.teams_api,
            "webhook": p.webhook_api,
        }
        self.channels: dict[str, HttpChannel | SmtpChannel] = {
            name: HttpChannel(name, ports[name], handler, self.faults)
            for name, handler in handlers.items()
        }
        self.channels["email"] = SmtpChannel(ports["email"], MailHandler(p, self.faults))
        self._reopen: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        for channel in self.channels.values():
            await channel.open()

    async def stop(self) -> None:
        for channel in self.channels.values():
            await channel.close()

    async def control(self, request: Request, keep: bool) -> tuple[Arrival, Answer]:
        nothing = Arrival("control", time.monotonic(), "", "", [])
        route = (request.method, request.path)
        if route == ("GET", "/healthz"):
            return nothing, Answer.json(200, {"status": "ok"})
        if route == ("GET", "/ports"):
            return nothing, Answer.json(200, {n: c.port for n, c in self.channels.items()})
        if route == ("POST", "/faults"):
            return nothing, await self._switch(request.json())
        if route == ("GET", "/faults"):
            data = {
                n: {"mode": f.mode, "met": f.met, "active": f.active()}
                for n, f in self.faults.items()
            }
            return nothing, Answer.json(200, data)
        if route == ("GET", "/arrivals"):
            wanted = request.query.get("channel")
            found = [a.as_dict() for a in self.platforms.arrivals if wanted in (None, a.channel)]
            return nothing, Answer.json(200, {"arrivals": found})
        if route == ("GET", "/counts"):
            return nothing, Answer.json(200, self.counts())
        if route == ("POST", "/callbacks"):
            self.platforms.callbacks = {k: str(v) for k, v in request.json().items()}
            return nothing, Answer.json(200, {"ok": True})
        if route == ("POST", "/reset"):
            self.platforms.reset()
            self.faults.clear()
            for task in self._reopen.values():
                task.cancel()
            await self.start()
            return nothing, Answer.json(200, {"ok": True})
        return nothing, Answer.json(404, {"detail": "no such control route"})

    async def _switch(self, spec: dict[str, Any]) -> Answer:
        channel, mode = str(spec.get("channel", "")), str(spec.get("mode", ""))
        if channel not in self.channels:
            return Answer.json(400, {"detail": f"channel is one of {', '.join(CHANNELS)}"})
        modes = SMTP_MODES if channel == "email" else HTTP_MODES
        if mode not in modes:
            return Answer.json(400, {"detail": f"mode is one of {', '.join(sorted(modes))}"})
        count, seconds = spec.get("count"), spec.get("seconds")
        if (count is None) == (seconds is None):
            return Answer.json(400, {"detail": "give count or seconds, not both"})
        if mode == "refuse" and seconds is None:
            return Answer.json(400, {"detail": "a refusal lasts `seconds`"})
        taken = str(spec.get("taken", "alternate"))
        if taken not in ("yes", "no", "alternate"):
            return Answer.json(400, {"detail": "taken is yes, no or alternate"})
        fault = Fault(
            mode=mode,
            remaining=int(count) if count is not None else None,
            until=time.monotonic() + float(seconds) if seconds is not None else None,
            retry_after=int(spec.get("retry_after", 2)),
            taken=taken,
            report=bool(spec.get("report", True)),
        )
        self.faults[channel] = fault
        if mode == "refuse":
            await self.channels[channel].close()
            previous = self._reopen.pop(channel, None)
            if previous is not None:
                previous.cancel()
            self._reopen[channel] = asyncio.create_task(
                self._open_later(channel, float(str(seconds)))
            )
        return Answer.json(200, {"channel": channel, "mode": mode})

    async def _open_later(self, channel: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.channels[channel].open()

    def counts(self) -> dict[str, Any]:
        """Per channel: requests and messages taken, by recipient and by message key."""
        result: dict[str, Any] = {}
        for name in CHANNELS:
            mine = [a for a in self.platforms.arrivals if a.channel == name and a.what == "message"]
            taken = [a for a in mine if a.taken]
            by_key = Counter(a.key for a in taken)
            result[name] = {
                "requests": len(mine),
                "taken": len(taken),
                "faults": dict(Counter(a.fault for a in mine if a.fault)),
                "by_recipient": dict(Counter(a.recipient for a in taken)),
                "keys_taken_twice": sorted(k for k, n in by_key.items() if n > 1),
            }
        result["callbacks_failed"] = self.platforms.callbacks_failed
        return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def serve(port: int, ports: dict[str, int], ready: asyncio.Event | None = None) -> None:
    """Serve every platform and the control server until cancelled."""
    standin = Standin(ports)
    await standin.start()
    control = HttpChannel("control", port, standin.control, {})
    await control.open()
    print(json.dumps({"control": port, **ports}), flush=True)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await control.close()
        await standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fault_standin")
    parser.add_argument("--port", type=int, required=True, help="the control server's port")
    options = parser.parse_args()
    ports = {name: _free_port() for name in CHANNELS}
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options.port, ports))


if __name__ == "__main__":
    main()
