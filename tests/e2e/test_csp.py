"""Every page runs under its Content-Security-Policy in a real browser without a violation.

A real `relay serve` (web app and dispatcher, the dev outbox as provider) and Debian's
chromium: each page is opened as whoever may see it, and whatever the policy refused
(`securitypolicyviolation` events, console errors, script errors) is collected. The pages'
own styles must apply and their scripts run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from service.auth.models import Role
from service.auth.service import create_api_token, create_user
from service.companies.service import sync_path
from service.db import make_engine
from service.memos.ack_links import make_ack_token
from service.models import metadata
from tests.e2e.conftest import PASSWORD, REPO, take_memo
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

SECRET_KEY = "e2e-csp-secret-key-0123456789"
DESKTOP = {"width": 1280, "height": 900}

# Runs before any script of the page: keeps every refusal the policy reports.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


@dataclass(frozen=True)
class Office:
    base_url: str
    emails: dict[str, str]
    memo_id: str
    ack_token: str


def _wait_for_email(base_url: str, token: str, timeout: float = 15.0) -> None:
    """Until the dispatcher has put the memo's email in the dev outbox."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(
            f"{base_url}/dev/outbox.json",
            params={"channel": "email"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        if answer.json()["items"]:
            return
        if time.monotonic() > deadline:
            raise AssertionError("no email reached the dev outbox")
        time.sleep(0.2)


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    emails = {
        "operator": "suzuki@relay.example",
        "admin": "kanri@relay.example",
        "client": "uketsuke@sakura.example",
    }
    with Session(engine) as session:
        [saved] = sync_path(
            session=session, path=REPO / "clients" / "sakura-dental.yaml", changed_by="e2e"
        )
        operator = create_user(
            session=session, email=emails["operator"], role=Role.operator, password=PASSWORD
        )
        create_user(session=session, email=emails["admin"], role=Role.admin, password=PASSWORD)
        create_user(
            session=session,
            email=emails["client"],
            role=Role.client,
            password=PASSWORD,
            company_id=saved.company.id,
        )
        token = create_api_token(session=session, user=operator)
        session.commit()
    env = {"RELAY_DATABASE_URL": url, "RELAY_SECRET_KEY": SECRET_KEY}
    with live_server(env=env, cwd=tmp_path) as base_url:
        memo_id = take_memo(base_url, token)["id"]
        _wait_for_email(base_url, token)
        ack_token = make_ack_token(secret=SECRET_KEY, memo_id=memo_id, contact_key="director")
        yield Office(base_url, emails, memo_id, ack_token)
    engine.dispose()


class Watched:
    """A browser profile whose pages report every policy refusal and error."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(
            base_url=base_url, viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo"
        )
        self.context.set_default_timeout(10_000)
        self.context.add_init_script(COLLECT_VIOLATIONS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.errors.append(f"script: {error}"))

    def _on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico"):
            return  # the browser asks for an icon no page names
        self.errors.append(f"console: {message.text} ({where})")

    def sign_in(self, email: str) -> None:
        self.page.goto("/login")
        self.page.fill("#email", email)
        self.page.fill("#password", PASSWORD)
        self.page.press("#password", "Enter")
        self.page.wait_for_url(lambda url: "/login" not in url)

    def open(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, path
        assert "content-security-policy" in response.headers

    def refusals(self) -> list[str]:
        violations: list[str] = self.page.evaluate("window.__cspViolations")
        return violations + self.errors

    def styled(self) -> bool:
        """base.html's inline stylesheet applied (the body is a flex column)."""
        return bool(
            self.page.evaluate("getComputedStyle(document.body).flexDirection === 'column'")
        )

    def assert_obeyed(self, path: str = "") -> None:
        """The page is styled by its own stylesheet, and nothing was refused or failed."""
        assert self.styled(), path
        assert self.refusals() == [], path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any, office: Office) -> Iterator[Watched]:
    """A watched browser profile on the running office, closed afterwards."""
    profile = Watched(browser, office.base_url)
    yield profile
    profile.close()


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def test_pages_for_everyone_satisfy_the_policy(watched: Watched, office: Office) -> None:
    for path in ("/login", f"/a/{office.ack_token}"):
        watched.open(path)
        watched.assert_obeyed(path)
    _expect()(watched.page.get_by_role("button", name="内容を確認しました")).to_be_visible()


def test_the_console_and_the_outbox_satisfy_the_policy(watched: Watched, office: Office) -> None:
    expect = _expect()
    watched.sign_in(office.emails["operator"])

    watched.open("/console")
    # console.js ran (its import map too): it connected and listed the memo.
    expect(watched.page.locator("#live")).to_have_attribute("data-state", "live")
    expect(watched.page.locator(f'#memo-rows tr[data-id="{office.memo_id}"]')).to_be_visible()
    watched.assert_obeyed()

    watched.open("/dev/outbox")
    frame = watched.page.frame_locator("iframe.mail-html").first
    expect(frame.locator("body")).to_contain_text("予約時間の行き違い")
    watched.assert_obeyed()


def test_the_board_satisfies_the_policy(watched: Watched, office: Office) -> None:
    expect = _expect()
    watched.sign_in(office.emails["admin"])

    watched.open("/board")
    expect(watched.page.locator("#live")).to_have_attribute("data-state", "live")
    expect(watched.page.locator(f'#waiting tr[data-memo-id="{office.memo_id}"]')).to_be_visible()
    watched.assert_obeyed()


def test_the_portal_satisfies_the_policy(watched: Watched, office: Office) -> None:
    watched.sign_in(office.emails["client"])

    for path in ("/portal", f"/portal/memos/{office.memo_id}"):
        watched.open(path)
        watched.assert_obeyed(path)
    _expect()(watched.page.locator("h1")).to_contain_text("予約時間の行き違い")
