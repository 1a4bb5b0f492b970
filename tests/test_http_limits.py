"""Request size limits: bodies by route (413) and header fields (431), before anything reads them."""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.app import create_app
from service.auth.models import Role
from service.clock import ManualClock
from service.companies.models import Company
from service.http_limits import (
    DEFAULT_BODY_LIMIT,
    MAX_HEADER_COUNT,
    KiB,
    MiB,
    body_limit,
)
from service.memos.models import Memo
from service.memos.schema import MAX_BODY_BYTES
from service.settings import Settings
from tests.factories import make_company, make_token, make_user
from tests.refusals import refused

CHUNK = 64 * KiB


@dataclass
class Exchange:
    """One request played against the app at the ASGI level, and what came of it."""

    pulled: int = 0  # body bytes the app asked for
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


async def exchange(
    app: FastAPI,
    method: str,
    path: str,
    *,
    body_size: int,
    headers: list[tuple[bytes, bytes]] | None = None,
    declare_length: bool = True,
) -> Exchange:
    """Send `body_size` bytes in 64 KiB pieces, as a server hands them over, counting reads."""
    result = Exchange()
    pieces: Iterator[bytes] = iter(
        b"x" * min(CHUNK, body_size - start) for start in range(0, body_size, CHUNK)
    )
    remaining = body_size
    request_headers = list(headers or [])
    if declare_length:
        request_headers.append((b"content-length", str(body_size).encode()))
    else:
        request_headers.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": request_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        nonlocal remaining
        piece = next(pieces, b"")
        remaining -= len(piece)
        result.pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": remaining > 0}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = {name.decode(): value.decode() for name, value in message["headers"]}
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    await app(scope, receive, send)
    return result


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_a_30_mb_memo_from_nobody_is_refused_unread(
    app: FastAPI, declare_length: bool
) -> None:
    # Without the limit, the whole body was read (and held) before the 401.
    answer = await exchange(
        app, "POST", "/api/v1/memos", body_size=30 * MiB, declare_length=declare_length
    )

    assert answer.status == 413
    assert answer.json()["code"] == "too_large"
    assert "256 KiB" in answer.json()["detail"]
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["connection"] == "close"
    if declare_length:
        assert answer.pulled == 0
    else:
        assert answer.pulled <= body_limit("/api/v1/memos") + CHUNK


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_a_twilio_webhook_reading_its_own_form_is_refused_at_64_kib(
    settings: Settings, engine: Engine, clock: ManualClock, declare_length: bool
) -> None:
    with_twilio = settings.model_copy(
        update={
            "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
            "twilio_auth_token": SecretStr("0123456789abcdef0123456789abcdef"),
        }
    )
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    answer = await exchange(
        create_app(settings=with_twilio, engine=engine),
        "POST",
        "/twilio/sms",
        body_size=5 * MiB,
        headers=form,
        declare_length=declare_length,
    )

    assert answer.status == 413
    assert answer.json()["code"] == "too_large"
    assert "64 KiB" in answer.json()["detail"]
    assert answer.pulled <= 64 * KiB + CHUNK


async def test_the_sign_in_form_is_refused_over_16_kib(app: FastAPI) -> None:
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    answer = await exchange(app, "POST", "/login", body_size=16 * KiB + 1, headers=form)
    assert answer.status == 413
    assert answer.pulled == 0


def test_each_route_class_has_its_limit() -> None:
    assert body_limit("/api/v1/memos") == 256 * KiB
    assert body_limit("/api/v1/memos/4f2a/ack") == 256 * KiB
    assert body_limit("/api/v1/clients/sakura-dental") == 1 * MiB
    assert body_limit("/twilio/voice/status") == 64 * KiB
    assert body_limit("/login") == 16 * KiB
    assert body_limit("/a/eyJtIjoiMSJ9.c2ln") == 16 * KiB
    assert body_limit("/portal/memos/4f2a/ack") == DEFAULT_BODY_LIMIT == 64 * KiB


@pytest.fixture
def sakura(session: Session) -> Company:
    """さくら歯科クリニック as the factory builds it: its patient_no field is optional."""
    return make_company(session)


def _escaped_memo(body: str) -> bytes:
    """A memo as a client escaping every non-ASCII character sends it: "あ" is 6 bytes."""
    memo = {
        "client": "sakura-dental",
        "category": "inquiry",
        "caller": {"name": "山田 太郎", "phone": "090-1111-2222"},
        "subject": "長いご用件",
        "body": body,
        "fields": {"patient_no": "12345"},
    }
    return json.dumps(memo, ensure_ascii=True).encode("ascii")


def test_a_full_64_kib_japanese_memo_still_fits_when_json_escaped(
    client: TestClient, session: Session, sakura: Company, operator_headers: dict[str, str]
) -> None:
    text = "あ" * (MAX_BODY_BYTES // 3) + "x" * (MAX_BODY_BYTES % 3)
    assert len(text.encode("utf-8")) == MAX_BODY_BYTES
    payload = _escaped_memo(text)
    assert len(payload) > 128 * KiB

    response = client.post(
        "/api/v1/memos",
        content=payload,
        headers={**operator_headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text[:200]
    assert response.json()["body"] == text


def test_a_memo_body_over_64_kib_is_still_refused_by_its_own_rule(
    client: TestClient, session: Session, sakura: Company, operator_headers: dict[str, str]
) -> None:
    payload = _escaped_memo("あ" * (MAX_BODY_BYTES // 3 + 1))
    assert len(payload) < body_limit("/api/v1/memos")

    response = client.post(
        "/api/v1/memos",
        content=payload,
        headers={**operator_headers, "Content-Type": "application/json"},
    )

    body = refused(response, status=413, code="too_large")
    assert body.field == "body"
    assert session.exec(select(Memo)).all() == []


def test_a_company_configuration_may_be_larger_than_a_memo(
    client: TestClient, session: Session
) -> None:
    admin = make_token(session, make_user(session, email="admin@relay.example", role=Role.admin))
    padding = "x" * (600 * KiB)
    document = {"slug": "big-company", "name": "大きな会社", "greeting": padding}

    response = client.put("/api/v1/clients/big-company", json=document, headers=admin)

    # Past the edge: the company's own rules answer (not a 413 from the size).
    assert response.status_code != 413, response.text[:200]
    over = client.put(
        "/api/v1/clients/big-company",
        content=b"x" * (1 * MiB + 1),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert over.status_code == 413
    assert over.json()["code"] == "too_large"
    assert "1 MiB" in over.json()["detail"]


def test_too_many_header_fields_are_refused_with_431(client: TestClient) -> None:
    many = [(f"x-probe-{number}", "1") for number in range(MAX_HEADER_COUNT + 1)]
    response = client.get("/healthz", headers=many)
    assert response.status_code == 431
    assert response.json()["code"] == "headers_too_large"
    assert "100" in response.json()["detail"]

    # A request with a reasonable number of fields still goes through.
    some = [(f"x-probe-{number}", "1") for number in range(50)]
    assert client.get("/healthz", headers=some).status_code == 200


def test_a_content_length_that_is_not_a_number_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/api/v1/memos", content=b"{}", headers={"Content-Length": "2; drop table"}
    )
    refused(response, status=400, code="bad_length")
