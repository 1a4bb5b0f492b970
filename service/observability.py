"""Liveness and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

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


def install_metrics(app: FastAPI) -> None:
    """Count and time every request by its route template (not its raw path)."""

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response
