"""Liveness, Prometheus metrics, and request paths as Relay logs them."""

from __future__ import annotations

import hmac
import logging
import re
import time
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from service.asgi import HttpMiddleware
from service.auth.models import Role
from service.errors import Forbidden, Unauthenticated
from service.http_deps import get_optional_user
from service.i18n import N_
from service.settings import Settings

router = APIRouter(tags=["health"])

REQUESTS = Counter(
    "relay_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "relay_http_request_seconds", "Time to answer an HTTP request", ["method", "route"]
)


class Health(BaseModel):
    """The process answers and its database is reachable."""

    status: str


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    """Liveness: the process answers and the database is reachable."""
    with request.app.state.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return Health(status="ok")


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _is_metrics_token(settings: Settings, token: str | None) -> bool:
    if settings.metrics_token is None or token is None:
        return False
    expected = settings.metrics_token.get_secret_value()
    return hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))


def require_metrics_reader(request: Request) -> None:
    """Let through RELAY_METRICS_TOKEN as a Bearer token, or staff (operator, admin)."""
    if _is_metrics_token(request.app.state.settings, _bearer_token(request)):
        return
    user = get_optional_user(request)
    if user is None:
        raise Unauthenticated(N_("Sign in as staff or send the metrics token."))
    if user.role not in (Role.admin, Role.operator):
        raise Forbidden(N_("Your role may not do this."))


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus metrics in the text exposition format"}},
)
def metrics(_: Annotated[None, Depends(require_metrics_reader)]) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware(HttpMiddleware):
    """Counts and times every HTTP request by its route template (not its raw path)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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
            if method not in KNOWN_METHODS:
                method = "other"  # a label per invented method would grow without end
            LATENCY.labels(method, path).observe(time.perf_counter() - started)
            REQUESTS.labels(method, path, str(status_code)).inc()


def install_metrics(app: FastAPI) -> None:
    """Measure every request the app answers."""
    app.add_middleware(MetricsMiddleware)


# Paths whose last part is a credential (an acknowledgement link's token): logged without it.
_SECRET_PATHS = re.compile(r"(/a/)[^/?#\s\"]+")
REDACTED = "<redacted>"


def redact_path(path: str) -> str:
    """`path` as it may be logged: "/a/<redacted>" for an acknowledgement link."""
    return _SECRET_PATHS.sub(rf"\1{REDACTED}", path)


class RedactPathsFilter(logging.Filter):
    """Keeps acknowledgement tokens out of the access log ("uvicorn.access")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_path(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
