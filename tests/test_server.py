"""`relay serve` at the socket: bounded request heads, early refusals, a redacted access log."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine

from service.http_limits import MAX_HEAD_BYTES, KiB, MiB
from tests.live_server import StreamReader, live_server

STATUS_LINE = re.compile(rb"^HTTP/1\.1 (\d{3}) ")


@dataclass(frozen=True)
class Server:
    base_url: str
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.base_url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port


@pytest.fixture
def server(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Server]:
    """`relay serve --no-dispatcher` on the test database, its output kept in a file."""
    log = tmp_path / "serve.log"
    env = {"RELAY_DATABASE_URL": database_url, "RELAY_SECRET_KEY": "server-test-key-0123456789"}
    with live_server(env=env, cwd=tmp_path, args=["--no-dispatcher"], log=log) as base_url:
        yield Server(base_url, log)


def raw_exchange(server: Server, request: bytes) -> int | None:
    """Send `request` on a fresh connection; the status the server answered, or None if it
    only closed the connection."""
    with socket.create_connection(server.address, timeout=10) as connection:
        try:
            for start in range(0, len(request), 64 * KiB):
                connection.sendall(request[start : start + 64 * KiB])
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while still sending: the answer, if any, is waiting
        answer = b""
        try:
            while b"\r\n" not in answer:
                piece = connection.recv(4096)
                if not piece:
                    break
                answer += piece
        except ConnectionResetError:
            pass
    found = STATUS_LINE.match(answer)
    return int(found.group(1)) if found else None


def still_serving(server: Server) -> bool:
    return httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200


def test_a_1_mb_header_is_refused_and_the_server_serves_on(server: Server) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Padding: "
        + b"a" * MiB
        + b"\r\nConnection: close\r\n\r\n"
    )

    status = raw_exchange(server, request)

    assert status in (431, None)  # 431, or cut off while still sending
    assert still_serving(server)


def test_a_head_just_over_the_limit_gets_431_whole(server: Server) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Padding: "
        + b"a" * (MAX_HEAD_BYTES + 100)
        + b"\r\nConnection: close\r\n\r\n"
    )
    assert raw_exchange(server, request) == 431
    assert still_serving(server)


def test_2000_header_fields_are_refused_and_the_server_serves_on(server: Server) -> None:
    fields = b"".join(b"X-Field-%d: 1\r\n" % number for number in range(2000))
    request = b"GET /healthz HTTP/1.1\r\nHost: relay\r\n" + fields + b"Connection: close\r\n\r\n"

    assert raw_exchange(server, request) == 431
    assert still_serving(server)


def test_a_large_but_reasonable_head_is_served(server: Server) -> None:
    cookie = "relay_session=" + "c" * (16 * KiB)
    response = httpx.get(f"{server.base_url}/healthz", headers={"Cookie": cookie}, timeout=5)
    assert response.status_code == 200


def test_a_30_mb_memo_is_refused_before_its_body_is_sent(server: Server) -> None:
    # Only the head goes out: the answer comes without waiting for a byte of the body.
    request = (
        b"POST /api/v1/memos HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (30 * MiB)
    )
    assert raw_exchange(server, request) == 413
    assert still_serving(server)


def test_the_access_log_keeps_acknowledgement_tokens_out(server: Server) -> None:
    token = "eyJtIjoiNGYyYSJ9.Zm9yZ2VkLXNpZ25hdHVyZQ"
    assert httpx.get(f"{server.base_url}/a/{token}", timeout=5).status_code == 404
    assert httpx.post(f"{server.base_url}/a/{token}", timeout=5).status_code in (403, 404)
    httpx.get(f"{server.base_url}/healthz?probe=after-ack", timeout=5)

    log = server.log.read_text()
    assert "probe=after-ack" in log  # the access log is on and written
    assert token not in log
    assert '"GET /a/<redacted> HTTP/1.1" 404' in log


def test_a_server_with_a_console_stream_open_stops_within_its_grace(
    database_url: str, operator_headers: dict[str, str], tmp_path: Path
) -> None:
    # An event stream never ends by itself: without a bound the server waited for it forever.
    log = tmp_path / "serve.log"
    env = {"RELAY_DATABASE_URL": database_url, "RELAY_SECRET_KEY": "server-test-key-0123456789"}
    with live_server(env=env, cwd=tmp_path, args=["--no-dispatcher"], log=log) as base_url:
        reader = StreamReader(f"{base_url}/api/v1/events", operator_headers)
        reader.start()
        assert reader.connected.wait(10)
        reader.stop = True
    # live_server sends SIGTERM, and kills the server if it is still there 10 s later: a
    # killed server never says it finished.
    said = log.read_text()
    assert "timeout graceful shutdown exceeded" in said
    assert "Finished server process" in said
