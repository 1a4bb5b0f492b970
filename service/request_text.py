"""Refusing request text that no database stores: NUL characters and unpaired surrogates.

PostgreSQL refuses a NUL in text, and neither database (nor a UTF-8 answer that echoes the
input back) can take a lone UTF-16 surrogate, which JSON can carry as `\\ud800`. Either would
fail deep inside a route as a 500; no person types them. So a request holding one, in its
path, its query string, or the fields of a JSON or form body, is refused before any route
with 422 in the one error shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from service.asgi import HttpMiddleware, send_refusal
from service.errors import Invalid
from service.i18n import N_


def _refusal() -> Invalid:
    return Invalid(
        N_(
            "The request holds a NUL character or an unpaired surrogate,"
            " which Relay does not accept."
        ),
        code="unstorable_text",
    )


# In JSON, such characters can only arrive escaped: \u0000, or a surrogate \ud800-\udfff.
_JSON_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def unstorable(text: str) -> bool:
    """Whether `text` holds a NUL or a surrogate that is not part of a pair (not UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unstorable_query(query: str) -> bool:
    pairs = parse_qsl(query, keep_blank_values=True)
    return any(unstorable(key) or unstorable(value) for key, value in pairs)


def _body_kind(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json" or media.endswith(b"+json"):
                return "json"
            if media == b"application/x-www-form-urlencoded":
                return "form"
            return None
    return None


def _unstorable_body(kind: str, body: bytes) -> bool:
    if kind == "form":
        return _unstorable_query(body.decode("latin-1"))
    if not _JSON_SUSPECT.search(body):
        return False
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return False  # not JSON (or nested past any sense): the route's own parsing refuses it
    return any(unstorable(text) for text in _strings(parsed))


class RequestTextMiddleware(HttpMiddleware):
    """Refuses (422) a request whose path, query or JSON/form body holds unstorable text.

    A JSON or form body is read whole (the size limits in front of it bound it) and handed
    on unchanged; any other body is not looked at.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if unstorable(scope["path"]) or _unstorable_query(scope["query_string"].decode("latin-1")):
            await send_refusal(send, scope, _refusal())
            return
        kind = _body_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        pending: list[Message] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                pending.append(message)  # the client went away: the app hears it after the body
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _unstorable_body(kind, body):
            await send_refusal(send, scope, _refusal())
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            if pending:
                return pending.pop(0)
            return await receive()

        await self.app(scope, replay, send)
