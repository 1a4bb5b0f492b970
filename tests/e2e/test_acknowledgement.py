"""A memo relayed, acknowledged on a phone, and seen to close on the console and the board live.

A real `relay serve` (web app and dispatcher, SQLite, the dev outbox as provider) and
Debian's chromium: the operator console and the admin's board are open side by side, a memo
is taken, its SMS lands in the dev outbox, and the link in it is opened on a phone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session

from service.auth.models import Role
from service.auth.service import create_api_token, create_user
from service.companies.service import sync_path
from service.db import make_engine
from service.escalation.models import CallbackTask, TaskStatus
from service.memos.models import Memo
from service.models import metadata
from tests.e2e.conftest import PASSWORD, REPO, take_memo
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
DIRECTOR_PHONE = "+819031824471"  # 佐藤 健一 院長 in clients/sakura-dental.yaml
LIVE_WITHIN_MS = 5_000
ACK_LINK = re.compile(r"https?://\S+?/a/[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Office:
    """A running Relay with さくら歯科クリニック, an operator and an admin."""

    base_url: str
    engine: Any
    operator_email: str
    admin_email: str
    admin_id: str
    operator_token: str


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    with Session(engine) as session:
        sync_path(session=session, path=REPO / "clients" / "sakura-dental.yaml", changed_by="e2e")
        operator = create_user(
            session=session,
            email="suzuki@relay.example",
            role=Role.operator,
            password=PASSWORD,
            display_name="鈴木 花子",
        )
        admin = create_user(
            session=session,
            email="kanri@relay.example",
            role=Role.admin,
            password=PASSWORD,
            display_name="高橋 管理者",
        )
        token = create_api_token(session=session, user=operator)
        admin_id = admin.id
        session.commit()
    env = {"RELAY_DATABASE_URL": url, "RELAY_SECRET_KEY": "e2e-secret-key-0123456789"}
    with live_server(env=env, cwd=tmp_path) as base_url:
        yield Office(
            base_url, engine, "suzuki@relay.example", "kanri@relay.example", admin_id, token
        )
    engine.dispose()


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _signed_in(browser: Any, office: Office, email: str, path: str) -> tuple[Any, Any]:
    """A new browser profile signed in through the login page, on `path`."""
    context = browser.new_context(
        base_url=office.base_url, viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(path)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(f"**{path}")
    _expect()(page.locator("#live")).to_have_attribute("data-state", "live")
    # Set once; a reload would lose it, so its survival shows every later change came live.
    page.evaluate("window.__sameDocument = true")
    return context, page


def _take_memo(office: Office, **overrides: Any) -> dict[str, Any]:
    return take_memo(office.base_url, office.operator_token, **overrides)


def _ack_link(office: Office, to: str, timeout: float = 10.0) -> str:
    """The acknowledgement link of the SMS the dispatcher handed to the dev outbox."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(
            f"{office.base_url}/dev/outbox.json",
            params={"channel": "sms", "to": to},
            headers={"Authorization": f"Bearer {office.operator_token}"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        for message in answer.json()["items"]:
            found = ACK_LINK.search(message["text"])
            if found:
                return found.group(0)
        if time.monotonic() > deadline:
            raise AssertionError(f"no SMS with an acknowledgement link reached {to}")
        time.sleep(0.2)


def _owe_callback(office: Office, memo_id: str, *, minutes_late: int) -> str:
    """A callback task as the escalation opens one, due `minutes_late` minutes ago."""
    with Session(office.engine) as session:
        memo = session.get(Memo, memo_id)
        assert memo is not None
        now = datetime.now(UTC)
        task = CallbackTask(
            memo_id=memo.id,
            company_id=memo.company_id,
            contact_key="director",
            phone=DIRECTOR_PHONE,
            status=TaskStatus.open,
            due_at=now - timedelta(minutes=minutes_late),
            created_at=now,
            updated_at=now,
        )
        session.add(task)
        session.commit()
        return task.id


def test_a_memo_acknowledged_on_a_phone_closes_on_the_console_and_the_board(
    browser: Any, office: Office, screenshots: Path | None
) -> None:
    expect = _expect()
    console_context, console = _signed_in(browser, office, office.operator_email, "/console")
    board_context, board = _signed_in(browser, office, office.admin_email, "/board")
    expect(board.locator("#waiting-empty")).to_be_visible()

    memo = _take_memo(office)
    row = console.locator(f'#memo-rows tr[data-id="{memo["id"]}"]')
    expect(row).to_contain_text("予約時間の行き違い", timeout=LIVE_WITHIN_MS)
    waiting = board.locator(f'#waiting tr[data-memo-id="{memo["id"]}"]')
    expect(waiting).to_contain_text("予約時間の行き違い", timeout=LIVE_WITHIN_MS)
    expect(waiting).to_contain_text("さくら歯科クリニック")
    expect(waiting).to_contain_text("至急")
    expect(waiting).to_have_class(re.compile(r"\burgent\b"))
    expect(waiting.locator(".age")).to_have_text("1分未満")
    expect(board.locator("#waiting-count")).to_have_text("1")

    link = _ack_link(office, DIRECTOR_PHONE)
    assert urlsplit(link).path.startswith("/a/")
    if screenshots:
        board.screenshot(path=str(screenshots / "board-waiting.png"), full_page=True)

    # The director opens the SMS link on a phone: no sign-in, one button.
    phone_context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
    )
    phone_context.set_default_timeout(10_000)
    phone = phone_context.new_page()
    phone.goto(office.base_url + urlsplit(link).path)
    expect(phone.locator("h1")).to_contain_text("予約時間の行き違い")
    expect(phone.locator(".ack-page")).to_contain_text("佐藤 健一 院長")
    confirm = phone.get_by_role("button", name="内容を確認しました")
    expect(confirm).to_be_visible()
    box = confirm.bounding_box()
    assert box is not None and box["height"] >= 44  # a thumb's worth
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    if screenshots:
        phone.screenshot(path=str(screenshots / "ack-phone.png"), full_page=True)
    confirm.tap()
    expect(phone.get_by_role("status")).to_contain_text("確認しました。ありがとうございます。")
    expect(phone.get_by_role("button", name="内容を確認しました")).to_have_count(0)
    if screenshots:
        phone.screenshot(path=str(screenshots / "ack-phone-done.png"), full_page=True)

    # Both staff pages follow without a reload.
    expect(row.locator(".badge.memo-acknowledged")).to_have_text("確認済み", timeout=LIVE_WITHIN_MS)
    expect(waiting).to_have_count(0, timeout=LIVE_WITHIN_MS)
    expect(board.locator("#waiting-empty")).to_be_visible()
    expect(board.locator("#waiting-count")).to_have_text("0")
    assert console.evaluate("window.__sameDocument") is True
    assert board.evaluate("window.__sameDocument") is True
    if screenshots:
        board.screenshot(path=str(screenshots / "board-after-ack.png"), full_page=True)
    for context in (phone_context, board_context, console_context):
        context.close()


def test_an_operator_reaches_the_company_and_records_the_acknowledgement(
    browser: Any, office: Office, screenshots: Path | None
) -> None:
    expect = _expect()
    memo = _take_memo(office, urgency="normal", subject="請求書の再発行")
    other_memo = _take_memo(office, urgency="normal", subject="駐車場の案内")
    # An hour without acknowledgement: the escalation has asked for callbacks.
    _owe_callback(office, memo["id"], minutes_late=35)
    other_task = _owe_callback(office, other_memo["id"], minutes_late=10)
    console_context, console = _signed_in(browser, office, office.operator_email, "/console")
    board_context, board = _signed_in(browser, office, office.admin_email, "/board")
    overdue_row = board.locator('#overdue tr:has-text("請求書の再発行")')
    expect(overdue_row).to_have_count(1)
    expect(console.locator("#callbacks-overdue")).to_have_text("期限切れ 2件")

    # Someone else got to the second one first: taking it is refused and the card says so.
    with Session(office.engine) as session:
        task = session.get(CallbackTask, other_task)
        assert task is not None
        task.status, task.taken_by = TaskStatus.taken, office.admin_id
        session.add(task)
        session.commit()
    other_card = console.locator(f'.callback[data-task-id="{other_task}"]')
    other_card.locator("button.take").click()
    expect(other_card.locator(".cb-note")).to_have_text("他のオペレーターが対応中です")
    expect(other_card).to_have_attribute("data-state", "other")
    expect(other_card.locator("button.take")).to_have_count(0)

    card = console.locator(".callback").first  # the most overdue
    expect(card).to_have_attribute("data-overdue", "true")
    expect(card.locator(".cb-late")).to_contain_text("35分超過")
    expect(card.locator(".cb-company")).to_have_text("さくら歯科クリニック")
    expect(card.locator("a.tel")).to_have_attribute("href", f"tel:{DIRECTOR_PHONE}")
    expect(card.locator("a.tel")).to_have_text("090-3182-4471")
    expect(card.locator(".cb-contact")).to_contain_text("佐藤 健一 院長")

    # The memo behind it opens in place.
    card.locator(".cb-expand").click()
    expect(card.locator(".cb-memo")).to_contain_text("山田 太郎")
    expect(card.locator(".cb-memo")).to_contain_text("院長から折り返しがほしい")

    # Keyboard only: Alt+C goes to the callback, Enter takes it, the outcome is chosen.
    console.keyboard.press("Alt+c")
    expect(card.locator("button.take")).to_be_focused()
    console.keyboard.press("Enter")
    expect(card).to_have_attribute("data-state", "mine")
    first_choice = card.locator('input[name="outcome"][value="acknowledged"]')
    expect(first_choice).to_be_focused()
    console.keyboard.press("Control+Enter")  # nothing chosen yet: refused, nothing sent
    expect(card.locator(".callback-form .field-error")).to_contain_text("結果を選んでください")
    first_choice.focus()
    console.keyboard.press("Enter")  # picks it and moves on to "who confirmed"
    confirmed_by = card.locator('input[name="confirmed_by"]')
    expect(confirmed_by).to_be_focused()
    console.keyboard.insert_text("佐藤 院長")
    if screenshots:
        console.screenshot(path=str(screenshots / "console-callback.png"), full_page=True)
    console.keyboard.press("Control+Enter")

    expect(console.locator("#callbacks-status")).to_contain_text("佐藤 院長様が確認しました")
    expect(console.locator(".callback")).to_have_count(1, timeout=LIVE_WITHIN_MS)
    expect(console.locator(".callback")).to_have_attribute("data-task-id", other_task)
    row = console.locator(f'#memo-rows tr[data-id="{memo["id"]}"]')
    expect(row.locator(".badge.memo-acknowledged")).to_have_text("確認済み", timeout=LIVE_WITHIN_MS)
    expect(overdue_row).to_have_count(0, timeout=LIVE_WITHIN_MS)
    expect(board.locator(f'#waiting tr[data-memo-id="{memo["id"]}"]')).to_have_count(0)
    assert board.evaluate("window.__sameDocument") is True
    for context in (board_context, console_context):
        context.close()
