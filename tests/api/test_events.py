"""A ringing call reaches open event streams, in this process and in another one."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.companies.models import Company
from service.settings import Settings
from tests.api.test_twilio_voice import INBOUND
from tests.live_server import StreamReader, live_server
from tests.twilio_signing import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE, signature


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
