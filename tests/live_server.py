"""A real Relay server in a child process, for tests that cross process boundaries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
