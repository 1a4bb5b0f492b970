"""What Relay's plain-ASGI middlewares share: seeing HTTP requests only, and refusing one."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import RelayError, error_json
from service.i18n import negotiate


class HttpMiddleware:
    """A plain-ASGI middleware that handles HTTP requests; lifespan events pass straight by.

    Plain ASGI rather than BaseHTTPMiddleware: no extra task per request, nothing buffered,
    and event streams pass straight through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request, or hand it on to `self.app`."""
        raise NotImplementedError


def scope_locale(scope: Scope) -> str:
    """The reader's language from the request's `Accept-Language`, before any route ran."""
    for name, value in scope["headers"]:
        if name == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return negotiate(None)


async def send_refusal(send: Send, scope: Scope, error: RelayError, *, close: bool = False) -> None:
    """Answer `error` in the one error shape; `close` asks the server to drop the connection."""
    body = error_json(error.body(scope_locale(scope)))
    status = error.status
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    if close:
        # The rest of the body is not wanted: the server closes rather than read it.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
