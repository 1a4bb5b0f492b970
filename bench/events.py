"""Reading Relay's server-sent event stream, noting when each event arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

# What identifies an event: its type and one value of its data (e.g. a call's CallSid).
Key = tuple[str, str]


class EventStream:
    """An open `GET /api/v1/events`, resolving a future per expected event as it arrives."""

    def __init__(
        self,
        base: str,
        headers: dict[str, str],
        *,
        key_of: Callable[[str, dict[str, Any]], str | None],
    ) -> None:
        self.url = f"{base}/api/v1/events"
        self.headers = headers
        self.key_of = key_of
        self.connected = asyncio.Event()
        self.arrived: dict[Key, float] = {}
        self._waiting: dict[Key, asyncio.Future[float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.count = 0

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._run())
        done, _ = await asyncio.wait(
            {self._task, asyncio.create_task(self.connected.wait())},
            timeout=15,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._task in done:
            self._task.result()  # raises what stopped the stream
        if not self.connected.is_set():
            raise TimeoutError("the event stream did not open within 15 s")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
            client.stream("GET", self.url, headers=self.headers) as response,
        ):
            if response.status_code != 200:
                raise RuntimeError(f"event stream answered HTTP {response.status_code}")
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    at = time.monotonic()
                    self.count += 1
                    key = self.key_of(kind, json.loads(line[6:]))
                    if key is None:
                        continue
                    self.arrived[(kind, key)] = at
                    waiter = self._waiting.pop((kind, key), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(at)

    def expect(self, kind: str, key: str) -> asyncio.Future[float]:
        """A future resolved with the arrival time (time.monotonic) of that event."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if (kind, key) in self.arrived:
            future.set_result(self.arrived[(kind, key)])
        else:
            self._waiting[(kind, key)] = future
        return future
