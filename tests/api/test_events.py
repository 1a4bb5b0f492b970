"""A ringing call reaches open event streams, in this process and in another one."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.companies.models import Company
from service.settings import Settings
from tests.api.test_twilio_voice import INBOUND
from tests.live_server import live_server
from tests.twilio_signing import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE, signature


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


def server_env(settings: Settings) -> dict[str, str]:
    return {
        "RELAY_DATABASE_URL": settings.database_url,
        "RELAY_SECRET_KEY": "live-server-secret-0123456789",
        "RELAY_PUBLIC_BASE_URL": PUBLIC_BASE,
        "RELAY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "RELAY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }


def test_ringing_call_reaches_a_console_on_another_process(
    twilio_client: TestClient,
    twilio_settings: Settings,
    session: Session,
    sakura: Company,
    operator_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    """The webhook lands on this process; the stream is served by a second one.

    On PostgreSQL the event crosses processes by LISTEN/NOTIFY. On SQLite (one process by
    design) the webhook is sent to the same server that streams.
    """
    postgres = twilio_settings.database_url.startswith("postgresql")
    with live_server(env=server_env(twilio_settings), cwd=tmp_path) as base:
        reader = StreamReader(f"{base}/api/v1/events", operator_headers)
        reader.start()
        assert reader.connected.wait(10)
        sent_at = time.monotonic()
        if postgres:
            response = twilio_client.post(
                "/twilio/voice",
                data=INBOUND,
                headers={"X-Twilio-Signature": signature(f"{PUBLIC_BASE}/twilio/voice", INBOUND)},
            )
        else:
            response = httpx.post(
                f"{base}/twilio/voice",
                data=INBOUND,
                headers={"X-Twilio-Signature": signature(f"{PUBLIC_BASE}/twilio/voice", INBOUND)},
            )
        assert response.status_code == 200
        payload, arrived_at = reader.wait_for("call.ringing")
        reader.stop = True
    assert payload["type"] == "call.ringing"
    assert payload["data"]["call_sid"] == INBOUND["CallSid"]
    assert payload["data"]["client"] == "sakura-dental"
    assert arrived_at - sent_at < 2.0
