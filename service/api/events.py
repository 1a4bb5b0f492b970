"""The live event stream that keeps every open console and board current."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from service.auth.models import Role
from service.errors import Forbidden, Unauthenticated
from service.events import Event, broker
from service.http_deps import get_optional_user
from service.i18n import N_

router = APIRouter(prefix="/api/v1", tags=["events"])

KEEPALIVE_SECONDS = 15.0


def _frame(event: Event) -> str:
    return f"event: {event.type}\ndata: {event.encode()}\n\n"


async def _stream(request: Request) -> AsyncIterator[str]:
    async with broker.subscribe() as queue:
        # Tell the browser how soon to reconnect, and that the stream is open.
        yield "retry: 2000\n: connected\n\n"
        while not await request.is_disconnected():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield _frame(event)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "server-sent events: an `event:` line and a JSON `data:` line each",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
def event_stream(request: Request) -> StreamingResponse:
    """Server-sent events: call.ringing, call.updated, memo.created, memo.updated, task.created."""
    # The user is looked up in a short session of its own: the stream holds no transaction.
    user = get_optional_user(request)
    if user is None:
        raise Unauthenticated(N_("Sign in or send an API token."))
    if user.role not in (Role.admin, Role.operator):
        raise Forbidden(N_("Your role may not do this."))
    return StreamingResponse(
        _stream(request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
