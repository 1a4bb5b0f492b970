"""The request session and who is asking, under more requests than worker threads."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.to_thread
import httpx
from fastapi import FastAPI
from sqlmodel import Session, select

from service.memos.models import Memo
from tests.api.test_memos import memo_body
from tests.factories import make_company

CLIENTS = 12


def test_more_writers_than_worker_threads_all_commit(
    app: FastAPI, session: Session, operator_headers: dict[str, str]
) -> None:
    """Every worker thread may be waiting for the write lock while another request still has
    to end the transaction holding it: ending it must not need one of those threads."""
    make_company(
        session,
        slug="sakura-dental",
        fields=[{"key": "patient_no", "label": "診察券番号", "required": True}],
    )
    headers = operator_headers

    async def post_all() -> list[int]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as client:

            async def post(number: int) -> int:
                body: dict[str, Any] = memo_body(subject=f"同時の件 {number}")
                response = await client.post("/api/v1/memos", json=body, headers=headers)
                return response.status_code

            return await asyncio.wait_for(
                asyncio.gather(*(post(n) for n in range(CLIENTS))), timeout=30
            )

    assert asyncio.run(post_all()) == [201] * CLIENTS
    session.expire_all()
    assert len(session.exec(select(Memo)).all()) == CLIENTS
    session.commit()
