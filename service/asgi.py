"""What Relay's plain-ASGI middlewares share: seeing HTTP requests only, and refusing one."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send


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


def refusal_body(detail: str) -> bytes:
    """The JSON body `{"detail": detail}` every refusal carries, as UTF-8."""
    return json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")


async def send_refusal(send: Send, status: int, detail: str, *, close: bool = False) -> None:
    """Answer `status` with `{"detail": detail}`; `close` asks the server to drop the connection."""
    body = refusal_body(detail)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    if close:
        # The rest of the body is not wanted: the server closes rather than read it.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
