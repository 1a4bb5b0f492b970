"""Liveness and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(tags=["health"])

REQUESTS = Counter(
    "relay_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "relay_http_request_seconds", "Time to answer an HTTP request", ["method", "route"]
)


@router.get("/healthz")
def healthz(request: Request) -> dict[str, str]:
    """Liveness: the process answers and the database is reachable."""
    with request.app.state.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (not its raw path).

    Plain ASGI rather than BaseHTTPMiddleware: no extra task per request, and event streams
    pass straight through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def sending(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            LATENCY.labels(method, path).observe(time.perf_counter() - started)
            REQUESTS.labels(method, path, str(status_code)).inc()


def install_metrics(app: FastAPI) -> None:
    """Measure every request the app answers."""
    app.add_middleware(MetricsMiddleware)
