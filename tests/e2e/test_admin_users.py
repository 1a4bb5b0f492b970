"""The users pages in a real browser: disabling ends an open session; an invitation is followed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session

from service.auth.models import Role
from service.auth.service import create_user
from tests.e2e.conftest import PASSWORD, Site

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "kanri@relay.example"
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _add_admin(site: Site) -> None:
    with Session(site.engine) as session:
        create_user(
            session=session,
            email=ADMIN_EMAIL,
            role=Role.admin,
            password=PASSWORD,
            display_name="管理 太郎",
        )
        session.commit()


def _signed_in(browser: Any, site: Site, email: str, *, viewport: dict[str, int]) -> Any:
    """A new browser profile, signed in through the login page as `email`."""
    context = browser.new_context(
        base_url=site.base_url, viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def test_an_admin_disables_a_user_whose_open_session_is_then_refused(
    browser: Any, site: Site
) -> None:
    _add_admin(site)
    operator = _signed_in(browser, site, site.operator_email, viewport=VIEWPORT)
    operator.goto("/console")
    assert operator.evaluate("fetch('/api/v1/me').then((r) => r.status)") == 200

    admin = _signed_in(browser, site, ADMIN_EMAIL, viewport=PHONE)
    admin.goto("/admin/users")
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    admin.fill("#users-q", "suzuki")
    admin.click("form[role=search] button[type=submit]")
    admin.get_by_role("link", name=site.operator_email).click()
    _expect()(admin.get_by_role("heading", level=1)).to_contain_text(site.operator_name)
    # At phone width the user's page fits: nothing to scroll sideways.
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    admin.click("form[action$='/disable'] button")
    _expect()(admin.locator("#user-status")).to_have_text("無効")
    _expect()(admin.locator(".notice[role=status]")).to_be_visible()

    # The operator's page is still open: its next request is refused, and a reload signs out.
    assert operator.evaluate("fetch('/api/v1/me').then((r) => r.status)") == 401
    operator.reload()
    assert "/login" in operator.url

    admin.context.close()
    operator.context.close()


def test_an_invitation_in_the_dev_outbox_is_opened_and_sets_a_password(
    browser: Any, site: Site
) -> None:
    _add_admin(site)
    admin = _signed_in(browser, site, ADMIN_EMAIL, viewport=VIEWPORT)
    admin.goto("/admin/users")
    admin.fill("#invite-email", "shinjin@relay.example")
    admin.fill("#invite-name", "新人 花子")
    admin.select_option("#invite-role", "operator")
    admin.click("form[method=post][action='/admin/users'] button[type=submit]")
    _expect()(admin.locator(".notice[role=status]")).to_contain_text("招待メールを送信しました")

    admin.goto("/dev/outbox")
    link = admin.locator("a[href*='/invite/']").first
    _expect()(link).to_be_visible()
    invitation = link.get_attribute("href")
    assert invitation is not None

    newcomer_context = browser.new_context(viewport=PHONE, locale="ja-JP", timezone_id="Asia/Tokyo")
    newcomer_context.set_default_timeout(10_000)
    newcomer = newcomer_context.new_page()
    newcomer.goto(invitation)
    _expect()(newcomer.get_by_role("heading", level=1)).to_have_text("Relay へようこそ")
    newcomer.get_by_label("パスワード", exact=True).fill("short")
    newcomer.get_by_label("確認のためもう一度").fill("short")
    newcomer.click("form button[type=submit]")
    _expect()(newcomer.locator("#password-error")).to_be_visible()
    _expect()(newcomer.locator("#password")).to_have_attribute("aria-invalid", "true")

    newcomer.get_by_label("パスワード", exact=True).fill("shinjin password 1")
    newcomer.get_by_label("確認のためもう一度").fill("shinjin password 1")
    newcomer.click("form button[type=submit]")
    newcomer.wait_for_url(re.compile(r"/$"))
    _expect()(newcomer.locator(".who")).to_contain_text("新人 花子")
    me = newcomer.evaluate("fetch('/api/v1/me').then((r) => r.json())")
    assert me["email"] == "shinjin@relay.example"

    # The link is used up.
    newcomer.goto(invitation)
    _expect()(newcomer.get_by_role("heading", level=1)).to_have_text("このリンクは使えません")

    newcomer_context.close()
    admin.context.close()
