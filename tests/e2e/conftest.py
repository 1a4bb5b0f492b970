"""Browser tests: a real Relay server in a child process, driven through Debian's chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from service.auth.models import Role
from service.auth.service import create_user
from service.companies.service import sync_path
from service.db import make_engine
from service.models import metadata
from tests.live_server import live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def take_memo(base_url: str, token: str, **overrides: Any) -> dict[str, Any]:
    """An urgent complaint for さくら歯科クリニック, taken through the API with `token`."""
    body = {
        "client": "sakura-dental",
        "category": "complaint",
        "urgency": "urgent",
        "caller": {"name": "山田 太郎", "phone": "090-1111-2222"},
        "subject": "予約時間の行き違い",
        "body": "本日15時の予約が入っていなかった。院長から折り返しがほしい。",
        "fields": {"patient_no": "12345"},
    }
    body.update(overrides)
    answer = httpx.post(
        f"{base_url}/api/v1/memos",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    memo: dict[str, Any] = answer.json()
    return memo


@dataclass(frozen=True)
class Site:
    """A running Relay with one client company and one operator."""

    base_url: str
    engine: Engine
    operator_email: str
    operator_name: str


# Module scope: Playwright's sync API keeps an event loop marked as running while it is open,
# which later asyncio tests would trip over.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, headless; never a downloaded browser."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium for the browser tests")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """`relay serve` on a fresh SQLite database holding さくら歯科クリニック and an operator."""
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    with Session(engine) as session:
        sync_path(session=session, path=REPO / "clients" / "sakura-dental.yaml", changed_by="e2e")
        create_user(
            session=session,
            email="suzuki@relay.example",
            role=Role.operator,
            password=PASSWORD,
            display_name="鈴木 花子",
        )
        session.commit()
    env = {"RELAY_DATABASE_URL": url, "RELAY_SECRET_KEY": "e2e-secret-key-0123456789"}
    with live_server(env=env, cwd=tmp_path) as base_url:
        yield Site(base_url, engine, "suzuki@relay.example", "鈴木 花子")
    engine.dispose()


@pytest.fixture
def screenshots() -> Path | None:
    """Where to keep screenshots for a human to look at (RELAY_E2E_SCREENSHOTS), if anywhere."""
    folder = os.environ.get("RELAY_E2E_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
