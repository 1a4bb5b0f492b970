"""The intake baseline: a bare FastAPI app whose one endpoint inserts one row.

Served by uvicorn exactly as Relay is (one process, access log on), on the same database
(`BENCH_DATABASE_URL`) with the same engine settings as Relay's (`service.db.make_engine`:
WAL and BEGIN IMMEDIATE on SQLite, the same pool on PostgreSQL), so the difference between
the two is Relay's own work per memo.

    BENCH_DATABASE_URL=sqlite:///x.db uvicorn bench.baseline_app:app
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, insert

from service.db import make_engine

metadata = MetaData()
rows = Table(
    "bench_baseline_rows",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("payload", Text, nullable=False),
)

engine = make_engine(os.environ["BENCH_DATABASE_URL"])
metadata.create_all(engine)
app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/rows", status_code=201)
def add_row(body: dict[str, Any]) -> dict[str, str]:
    """Insert one row holding the posted JSON, committed before answering."""
    row_id = uuid.uuid4().hex
    with engine.begin() as connection:
        connection.execute(
            insert(rows).values(
                id=row_id,
                created_at=datetime.now(UTC),
                payload=json.dumps(body, ensure_ascii=False),
            )
        )
    return {"id": row_id}
