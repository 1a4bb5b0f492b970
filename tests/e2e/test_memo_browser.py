"""The staff's memo browser in Debian's chromium: a memo found by its caller's number as
people write it, opened with its delivery trail, and opened again from a row of the board."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from service.auth.models import Role
from service.auth.service import create_api_token, create_user
from service.companies.service import sync_path
from service.db import make_engine
from service.models import metadata
from tests.e2e.conftest import PASSWORD, REPO, take_memo
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 800}


@dataclass(frozen=True)
class Bureau:
    """A running Relay with さくら歯科クリニック, an operator (and their token) and an admin."""

    base_url: str
    operator_token: str
    admin_email: str


@pytest.fixture
def bureau(tmp_path: Path) -> Iterator[Bureau]:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    with Session(engine) as session:
        sync_path(session=session, path=REPO / "clients" / "sakura-dental.yaml", changed_by="e2e")
        operator = create_user(
            session=session, email="suzuki@relay.example", role=Role.operator, password=PASSWORD
        )
        create_user(
            session=session,
            email="kanri@relay.example",
            role=Role.admin,
            password=PASSWORD,
            display_name="高橋 管理者",
        )
        token = create_api_token(session=session, user=operator)
        session.commit()
    env = {"RELAY_DATABASE_URL": url, "RELAY_SECRET_KEY": "e2e-secret-key-0123456789"}
    with live_server(env=env, cwd=tmp_path) as base_url:
        yield Bureau(base_url, token, "kanri@relay.example")
    engine.dispose()


def _signed_in(browser: Any, bureau: Bureau, path: str, viewport: dict[str, int]) -> Any:
    """A new browser profile of the admin, signed in through the login page, on `path`."""
    context = browser.new_context(
        base_url=bureau.base_url, viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(path)
    page.fill("#email", bureau.admin_email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(f"**{path}")
    return page


def _until_sent(page: Any, timeout: float = 10.0) -> None:
    """Reload the memo page until the dispatcher's provider has answered a delivery."""
    deadline = time.monotonic() + timeout
    while page.locator("tr[data-delivery-id] code").count() == 0:
        if time.monotonic() > deadline:
            raise AssertionError("no delivery was answered by the provider")
        time.sleep(0.3)
        page.reload()


def test_a_memo_found_by_its_callers_number_shows_its_delivery_trail(
    browser: Any, bureau: Bureau, screenshots: Path | None
) -> None:
    from playwright.sync_api import expect

    memo = take_memo(
        bureau.base_url,
        bureau.operator_token,
        caller={"name": "山田 太郎", "phone": "+818099990001"},
    )
    take_memo(bureau.base_url, bureau.operator_token, subject="別件の問い合わせ")
    page = _signed_in(browser, bureau, "/memos", DESKTOP)

    page.get_by_label("検索", exact=True).fill("080-9999-0001")
    page.get_by_role("button", name="検索").click()
    page.wait_for_url("**/memos?q=080-9999-0001*")
    rows = page.locator("table.memo-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("山田 太郎")
    expect(rows.first).to_contain_text("080-9999-0001")

    rows.first.get_by_role("link", name=memo["subject"]).click()
    page.wait_for_url(f"**/memos/{memo['id']}")
    _until_sent(page)
    deliveries = page.locator("table.deliveries tbody tr")
    expect(deliveries.first).to_be_visible()
    assert deliveries.count() == len(memo["deliveries"])
    expect(page.locator("table.deliveries")).to_contain_text("佐藤")
    expect(page.get_by_role("heading", name="確認", exact=True)).to_be_visible()
    if screenshots:
        page.screenshot(path=str(screenshots / "memo-trail.png"), full_page=True)

    # At phone width neither page needs scrolling sideways.
    phone = _signed_in(browser, bureau, f"/memos/{memo['id']}", PHONE)
    for path in (f"/memos/{memo['id']}", "/memos?q=%E5%B1%B1%E7%94%B0"):
        phone.goto(path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
    phone.context.close()
    page.context.close()


def test_a_board_row_opens_the_memo(browser: Any, bureau: Bureau) -> None:
    memo = take_memo(bureau.base_url, bureau.operator_token, subject="ボードから開くメモ")
    page = _signed_in(browser, bureau, "/board", DESKTOP)

    page.locator(f'tr[data-memo-id="{memo["id"]}"]').first.get_by_role(
        "link", name="ボードから開くメモ"
    ).click()

    page.wait_for_url(f"**/memos/{memo['id']}")
    assert page.locator("h1").inner_text().endswith("ボードから開くメモ")
    page.context.close()
