"""A local stand-in for Twilio's Messages API, for the relay benchmarks and the crash tests.

`POST /2010-04-01/Accounts/{sid}/Messages.json` waits a fixed delay (Twilio's API takes
tens of milliseconds to answer; a stand-in that answers at once would make the dispatcher
look CPU-bound), then answers 201 with a message `sid`. It notes when each request arrived
(`time.monotonic()`, which on Linux is one clock for every process of the machine) with
its `To`, `Body` and the delivery id from its `StatusCallback`. `GET /arrivals` lists them;
`POST /reset` forgets them.

Each message created is kept, and `GET .../Messages.json?To=&From=&PageSize=&Page=` lists
them as Twilio does: newest first, a page at a time, linked by `next_page_uri`.

`POST /hold?plan=created,lost` makes the next requests hang unanswered, one per word (a
client killed while it waits): `created` keeps the message first (Twilio made it, the answer
never came back), `lost` does not (the request never got as far).

    python -m bench.twilio_standin --port 8765 --delay-ms 80
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

arrivals: list[dict[str, object]] = []
messages: list[dict[str, Any]] = []  # oldest first
holds: list[str] = []  # what the next requests do instead of answering
settings = {"delay": 0.08}


def message_resource(*, to: str, sender: str, body: str) -> dict[str, Any]:
    """A message as Twilio's API answers its creation: queued, one segment."""
    now = format_datetime(datetime.now(UTC))
    return {
        "sid": "SM" + uuid.uuid4().hex,
        "to": to,
        "from": sender,
        "body": body,
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
    }


def messages_page(
    kept: list[dict[str, Any]], *, query: dict[str, str], path: str
) -> dict[str, Any]:
    """One page of the kept messages as Twilio lists them: newest first, by To and From."""
    to, sender = query.get("To"), query.get("From")
    size = int(query.get("PageSize") or 50)
    page = int(query.get("Page") or 0)
    found = [
        message
        for message in reversed(kept)
        if (not to or message["to"] == to) and (not sender or message["from"] == sender)
    ]
    items = found[page * size : (page + 1) * size]
    next_page_uri = None
    if len(found) > (page + 1) * size:
        following = {**query, "Page": str(page + 1), "PageToken": f"PT{page + 1}"}
        next_page_uri = f"{path}?{urlencode(following)}"
    return {"messages": items, "page": page, "page_size": size, "next_page_uri": next_page_uri}


async def create_message(request: Request) -> JSONResponse:
    at = time.monotonic()
    form = await request.form()
    callback = str(form.get("StatusCallback", ""))
    delivery = parse_qs(urlsplit(callback).query).get("d", [""])[0]
    to, body = str(form.get("To", "")), str(form.get("Body", ""))
    hold = holds.pop(0) if holds else None
    created = hold in (None, "created")
    arrivals.append(
        {
            "at": at,
            "to": to,
            "delivery": delivery,
            "chars": len(body),
            "created": created,
            "held": hold is not None,
        }
    )
    sender = str(form.get("From") or form.get("MessagingServiceSid") or "")
    message = message_resource(to=to, sender=sender, body=body)
    if created:
        messages.append(message)
    if hold is not None:
        await asyncio.Event().wait()  # never answered
    await asyncio.sleep(settings["delay"])
    return JSONResponse(message, status_code=201)


async def list_messages(request: Request) -> JSONResponse:
    return JSONResponse(
        messages_page(messages, query=dict(request.query_params), path=request.url.path)
    )


async def hold_next(request: Request) -> JSONResponse:
    plan = [word for word in request.query_params.get("plan", "").split(",") if word]
    if any(word not in ("created", "lost") for word in plan):
        return JSONResponse({"detail": "plan words are created or lost"}, status_code=400)
    holds.extend(plan)
    return JSONResponse({"holds": holds})


async def list_arrivals(request: Request) -> JSONResponse:
    return JSONResponse({"arrivals": arrivals})


async def reset(request: Request) -> JSONResponse:
    arrivals.clear()
    messages.clear()
    holds.clear()
    return JSONResponse({"ok": True})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/2010-04-01/Accounts/{sid}/Messages.json", create_message, methods=["POST"]),
        Route("/2010-04-01/Accounts/{sid}/Messages.json", list_messages, methods=["GET"]),
        Route("/hold", hold_next, methods=["POST"]),
        Route("/arrivals", list_arrivals, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.twilio_standin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=80.0)
    options = parser.parse_args()
    settings["delay"] = options.delay_ms / 1000
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
