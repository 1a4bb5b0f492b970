"""A local stand-in for Twilio's Messages API, for the relay benchmarks.

`POST /2010-04-01/Accounts/{sid}/Messages.json` waits a fixed delay (Twilio's API takes
tens of milliseconds to answer; a stand-in that answers at once would make the dispatcher
look CPU-bound), then answers 201 with a message `sid`. It notes when each request arrived
(`time.monotonic()`, which on Linux is one clock for every process of the machine) with
its `To`, `Body` and the delivery id from its `StatusCallback`. `GET /arrivals` lists them;
`POST /reset` forgets them.

    python -m bench.twilio_standin --port 8765 --delay-ms 80
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

arrivals: list[dict[str, object]] = []
settings = {"delay": 0.08}


async def create_message(request: Request) -> JSONResponse:
    at = time.monotonic()
    form = await request.form()
    callback = str(form.get("StatusCallback", ""))
    delivery = parse_qs(urlsplit(callback).query).get("d", [""])[0]
    to, body = str(form.get("To", "")), str(form.get("Body", ""))
    arrivals.append({"at": at, "to": to, "delivery": delivery, "chars": len(body)})
    await asyncio.sleep(settings["delay"])
    sid = "SM" + uuid.uuid4().hex
    return JSONResponse(
        {"sid": sid, "status": "queued", "to": to, "body": body, "num_segments": "1"},
        status_code=201,
    )


async def list_messages(request: Request) -> JSONResponse:
    return JSONResponse({"messages": []})


async def list_arrivals(request: Request) -> JSONResponse:
    return JSONResponse({"arrivals": arrivals})


async def reset(request: Request) -> JSONResponse:
    arrivals.clear()
    return JSONResponse({"ok": True})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/2010-04-01/Accounts/{sid}/Messages.json", create_message, methods=["POST"]),
        Route("/2010-04-01/Accounts/{sid}/Messages.json", list_messages, methods=["GET"]),
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
