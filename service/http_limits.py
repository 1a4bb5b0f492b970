"""How big a request Relay accepts, checked before any route, sign-in or form parsing reads it.

Two layers: the server bounds a request's head (request line and headers) while it is still
arriving (`MAX_HEAD_BYTES`, see service/server.py), and `RequestLimitsMiddleware` bounds the
number of header fields and the body, by route, here. A refused body gets 413, too many header
fields 431, both as JSON `{"detail": ...}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.asgi import HttpMiddleware, send_refusal
from service.errors import BadRequest, RelayError, TooLarge
from service.i18n import N_

KiB = 1024
MiB = 1024 * KiB

# The request line and every header together; a browser's request, cookies included, is a
# few KiB.
MAX_HEAD_BYTES = 32 * KiB
MAX_HEADER_COUNT = 100


@dataclass(frozen=True)
class BodyLimit:
    """The largest body accepted on `path` (a path ending in "/" covers everything below it)."""

    path: str
    max_bytes: int
    why: str

    def covers(self, path: str) -> bool:
        return path.startswith(self.path) if self.path.endswith("/") else path == self.path


# The first entry that covers a request's path decides; a path listed nowhere gets
# DEFAULT_BODY_LIMIT. More specific paths come first.
BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("/api/v1/clients/", 1 * MiB, "a company's configuration, as large as its YAML"),
    # A memo body may be 64 KiB of UTF-8 (CONTRACT §5, refused beyond with a 413 that names
    # the body): JSON-escaped ("\\u3042" for "あ") that is up to 128 KiB, plus the other fields.
    BodyLimit("/api/v1/", 256 * KiB, "the JSON API, memo intake included"),
    BodyLimit("/admin/", 1 * MiB, "admin pages, which edit company configurations"),
    BodyLimit("/hooks/", 256 * KiB, "chat platforms' callbacks, which echo the message"),
    BodyLimit("/twilio/", 64 * KiB, "Twilio's form-encoded webhooks (an SMS is 1,600 chars)"),
    BodyLimit("/login", 16 * KiB, "the sign-in form"),
    BodyLimit("/logout", 16 * KiB, "the sign-out form"),
    BodyLimit("/a/", 16 * KiB, "the acknowledgement button, which sends no field"),
)
DEFAULT_BODY_LIMIT = 64 * KiB


def body_limit(path: str) -> int:
    """The largest request body accepted on `path`, in bytes."""
    for limit in BODY_LIMITS:
        if limit.covers(path):
            return limit.max_bytes
    return DEFAULT_BODY_LIMIT


def _size(max_bytes: int) -> str:
    return f"{max_bytes // MiB} MiB" if max_bytes % MiB == 0 else f"{max_bytes // KiB} KiB"


class RequestBodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes its limit.

    An HTTPException, so that a route reading its body answers it as such (FastAPI passes it
    through); whatever the route answers instead, the middleware sends its own 413.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, str(_too_large(max_bytes)))


def _too_large(max_bytes: int) -> TooLarge:
    return TooLarge(N_("The request body is over %(size)s."), size=_size(max_bytes))


class RequestLimitsMiddleware(HttpMiddleware):
    """Refuses too many header fields (431) and a body over its route's limit (413).

    A declared Content-Length over the limit is refused before the app runs; a body without
    one (chunked) is counted as the app reads it, and refused the moment it passes the limit,
    so no more than the limit is ever held. Plain ASGI: nothing is read ahead or buffered.
    """

    def __init__(self, app: ASGIApp, *, max_header_count: int = MAX_HEADER_COUNT) -> None:
        super().__init__(app)
        self.max_header_count = max_header_count

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if len(headers) > self.max_header_count:
            refusal = RelayError(
                N_("The request has more than %(count)s header fields."),
                status=431,
                code="headers_too_large",
                count=self.max_header_count,
            )
            await send_refusal(send, scope, refusal)
            return
        max_bytes = body_limit(scope["path"])
        declared = [value for name, value in headers if name == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                refusal = BadRequest(N_("Content-Length is not a number."), code="bad_length")
                await send_refusal(send, scope, refusal)
                return
            if length > max_bytes:
                await send_refusal(send, scope, _too_large(max_bytes), close=True)
                return
        await _CountedRequest(self.app, max_bytes)(scope, receive, send)


class _CountedRequest:
    """One request whose body is counted as it is read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.received = 0
        self.too_large = False
        self.response_started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_within_limit() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.max_bytes:
                    self.too_large = True
                    raise RequestBodyTooLarge(self.max_bytes)
            return message

        async def send_or_refuse(message: Message) -> None:
            if not self.too_large:
                if message["type"] == "http.response.start":
                    self.response_started = True
                await send(message)
                return
            # The body passed its limit: whatever the app answers to that, the answer is 413.
            if message["type"] == "http.response.start" and not self.response_started:
                self.response_started = True
                await send_refusal(send, scope, _too_large(self.max_bytes), close=True)

        try:
            await self.app(scope, receive_within_limit, send_or_refuse)
        except RequestBodyTooLarge:
            if not self.response_started:
                self.response_started = True
                await send_refusal(send, scope, _too_large(self.max_bytes), close=True)
