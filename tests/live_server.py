"""A real Relay server in a child process, for tests that cross process boundaries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_server(
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 30.0,
    args: list[str] | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """Run `relay serve` (with extra `args`) and `env` on a free port; yields its base URL.

    With `log`, the server's output (its access log included) is written to that file.
    """
    port = free_port()
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RELAY_") or key == "RELAY_TEST_DATABASE_URL"
    }
    child_env.update(env)
    child_env.update({"RELAY_HOST": "127.0.0.1", "RELAY_PORT": str(port)})
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", *(args or [])],
        env=child_env,
        cwd=cwd,
        stdout=output or subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                said = process.stdout.read() if process.stdout else log.read_bytes()  # type: ignore[union-attr]
                raise RuntimeError(f"server exited early:\n{said.decode()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if output is not None:
            output.close()


class StreamReader(threading.Thread):
    """Reads an event stream in the background and keeps the events it sees."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.connected = threading.Event()
        self.stop = False

    def run(self) -> None:
        try:
            self._read()
        except (httpx.RemoteProtocolError, httpx.ReadError):
            # The server was stopped under the open stream at the end of the test.
            if not self.stop:
                raise

    def _read(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = ""
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.events.append((kind, json.loads(line[6:]), time.monotonic()))
                if self.stop:
                    return

    def wait_for(self, kind: str, timeout: float = 5.0) -> tuple[dict[str, Any], float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for seen, payload, at in self.events:
                if seen == kind:
                    return payload, at
            time.sleep(0.01)
        raise AssertionError(f"no {kind} event within {timeout}s; saw {self.events}")
