"""Invariant 1: a memo answered 201 is already committed, with its first deliveries."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.companies.models import Company
from service.dispatch.models import Delivery
from service.memos.models import Memo
from service.settings import Settings
from tests.live_server import live_server


def test_every_201_is_visible_to_another_connection_at_once(
    engine: Engine,
    settings: Settings,
    company: Company,
    operator_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    env = {
        "RELAY_DATABASE_URL": settings.database_url,
        "RELAY_SECRET_KEY": "durability-secret-0123456789",
    }
    body = {
        "client": "sakura-dental",
        "category": "inquiry",
        "caller": {"name": "山田 太郎", "phone": "090-1111-2222"},
        "subject": "予約の変更",
        "body": "来週の予約を変更したい。",
    }
    # The server relays nothing meanwhile, so the rows are exactly as the 201 left them.
    with (
        live_server(env=env, cwd=tmp_path, args=["--no-dispatcher"]) as base,
        httpx.Client(base_url=base, headers=operator_headers) as http,
    ):
        for _ in range(40):
            answer = http.post("/api/v1/memos", json=body)
            assert answer.status_code == 201
            memo_id = answer.json()["id"]
            with Session(engine) as other:
                assert other.get(Memo, memo_id) is not None
                rows = other.exec(select(Delivery).where(Delivery.memo_id == memo_id)).all()
                assert len(rows) == len(answer.json()["deliveries"]) >= 1
