"""A caller's page at phone width, for staff and in the portal, reached from a memo's page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from service.auth.models import Role, User
from service.auth.service import create_api_token, create_user
from service.companies.models import Company
from tests.e2e.conftest import PASSWORD, Site, take_memo

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 740}
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
CLIENT_EMAIL = "uketsuke@sakura.example"
LONG_NOTE = "毎日同じ時刻に電話があり、担当者を名指しで大声で威圧する。" * 6


def _arrange(site: Site) -> dict[str, Any]:
    """Two memos from 090-1111-2222, a flag with a long note, and a user of the company."""
    with Session(site.engine) as session:
        operator = session.exec(select(User).where(User.email == site.operator_email)).one()
        token = create_api_token(session=session, user=operator)
        company = session.exec(select(Company).where(Company.slug == "sakura-dental")).one()
        create_user(
            session=session,
            email=CLIENT_EMAIL,
            role=Role.client,
            password=PASSWORD,
            company_id=company.id,
            display_name="受付 山本",
        )
        session.commit()
    memo = take_memo(site.base_url, token)
    take_memo(site.base_url, token, subject="再度のお電話" * 8, urgency="normal")
    flagged = httpx.post(
        f"{site.base_url}/api/v1/callers/090-1111-2222/flags",
        json={"kind": "harassment", "note": LONG_NOTE},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert flagged.status_code == 201, flagged.text
    return memo


def _page(browser: Any, site: Site, email: str) -> tuple[Any, Any]:
    context = browser.new_context(
        base_url=site.base_url, viewport=PHONE, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    return context, page


def test_a_caller_page_holds_up_on_a_phone_for_staff_and_for_the_company(
    browser: Any, site: Site, screenshots: Path | None
) -> None:
    memo = _arrange(site)
    for email, memo_path, name in (
        (site.operator_email, f"/memos/{memo['id']}", "caller-staff"),
        (CLIENT_EMAIL, f"/portal/memos/{memo['id']}", "caller-portal"),
    ):
        context, page = _page(browser, site, email)
        try:
            page.goto(memo_path)
            page.click("a.caller-link")
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").inner_text().startswith("090-1111-2222")
            assert page.locator("[data-memo-id]").count() == 2
            assert page.evaluate(OVERFLOW) <= 1, name
            shows_flag = page.get_by_text(LONG_NOTE[:20]).count() > 0
            assert shows_flag == (name == "caller-staff")
            if screenshots is not None:
                page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        finally:
            context.close()
