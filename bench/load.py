"""Closed-loop load: N clients, each posting as soon as its previous answer came back."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_ERRORS = 200


@dataclass
class LoadResult:
    started: float = 0.0
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answers: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return self.finished - self.started

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


async def closed_loop(
    *,
    url: str,
    headers: list[dict[str, str]],
    body: Callable[[int, int], dict[str, Any]],
    seconds: float | None = None,
    total: int | None = None,
    expect: int = 201,
    keep_answers: bool = False,
    warmup: int = 0,
    idempotency_keys: bool = False,
) -> LoadResult:
    """One client per `headers` entry, posting `body(client, serial)` until `seconds` have
    passed or `total` requests were answered; latencies are of successful requests only.

    With `idempotency_keys`, each request carries a fresh Idempotency-Key, as the console's do.
    """

    def headers_of(client: int) -> dict[str, str]:
        if idempotency_keys:
            return {**headers[client], "Idempotency-Key": uuid.uuid4().hex}
        return headers[client]

    result = LoadResult()
    serial = 0
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=len(headers), max_keepalive_connections=len(headers))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for number in range(warmup):
            response = await client.post(url, json=body(0, -1 - number), headers=headers_of(0))
            if response.status_code != expect:
                raise RuntimeError(f"warm-up answered {response.status_code}: {response.text}")

        failures = 0

        def failed(kind: str) -> None:
            nonlocal failures
            failures += 1
            result.errors[kind] = result.errors.get(kind, 0) + 1
            if sum(result.errors.values()) >= MAX_ERRORS:
                done.set()  # broken, not slow: stop rather than spin

        async def worker(index: int) -> None:
            nonlocal serial
            while not done.is_set():
                if total is not None and serial - failures >= total:
                    return  # enough sent; those in flight complete the count
                serial += 1
                mine = serial
                sent = time.monotonic()
                try:
                    response = await client.post(
                        url, json=body(index, mine), headers=headers_of(index)
                    )
                except httpx.HTTPError as error:
                    failed(type(error).__name__)
                    continue
                answered = time.monotonic()
                if response.status_code != expect:
                    failed(f"HTTP {response.status_code}: {response.text[:120]}")
                    continue
                if done.is_set() and seconds is not None:
                    return  # answered after the window closed: not counted
                result.latencies.append(answered - sent)
                if keep_answers:
                    result.answers.append((answered, response.json()))

        result.started = time.monotonic()
        tasks = [asyncio.create_task(worker(i)) for i in range(len(headers))]
        if seconds is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=seconds)
            done.set()
            result.finished = time.monotonic()
            await asyncio.gather(*tasks)
        else:
            await asyncio.gather(*tasks)
            result.finished = time.monotonic()
    return result


async def paced(
    *,
    url: str,
    headers: list[dict[str, str]],
    body: Callable[[int], dict[str, Any]],
    count: int,
    rate: float,
    expect: int = 201,
) -> LoadResult:
    """Open loop: request `i` leaves at `i / rate` s whatever became of the earlier ones;
    `answers` holds (answered_at, JSON) of each success."""
    result = LoadResult()
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(serial: int) -> None:
            await asyncio.sleep(max(0.0, result.started + serial / rate - time.monotonic()))
            sent = time.monotonic()
            try:
                response = await client.post(
                    url, json=body(serial), headers=headers[serial % len(headers)]
                )
            except httpx.HTTPError as error:
                kind = type(error).__name__
                result.errors[kind] = result.errors.get(kind, 0) + 1
                return
            answered = time.monotonic()
            if response.status_code != expect:
                kind = f"HTTP {response.status_code}: {response.text[:120]}"
                result.errors[kind] = result.errors.get(kind, 0) + 1
                return
            result.latencies.append(answered - sent)
            result.answers.append((answered, response.json()))

        result.started = time.monotonic()
        await asyncio.gather(*(one(serial) for serial in range(count)))
        result.finished = time.monotonic()
    return result
