"""Two-factor sign-in in a real browser: an operator enrols from their own page with a code
their authenticator would show (computed here), signs out, and signs in with password and code.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from tests.e2e.conftest import PASSWORD, Site

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 740}


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _sign_in_with_password(page: Any, site: Site) -> None:
    page.goto(site.base_url + "/login")
    page.fill("#email", site.operator_email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")


def test_enrol_sign_out_and_sign_in_with_a_code(browser: Any, site: Site) -> None:
    expect = _expect()
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    _sign_in_with_password(page, site)
    page.wait_for_url(site.base_url + "/")

    page.get_by_role("link", name="Two-factor sign-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in")
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    authenticator = pyotp.TOTP(secret)
    page.get_by_label("The 6-digit code your app shows now").fill(authenticator.now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in is on")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.base_url + "/login")

    _sign_in_with_password(page, site)
    page.wait_for_url("**/login/code?next=%2F")
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    # The enrolment's code is spent: the authenticator's next one (a step ahead is accepted).
    page.get_by_label("Code from your authenticator app").fill(authenticator.at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(site.base_url + "/")
    expect(page.locator(".who")).to_contain_text(site.operator_name)
    page.goto(site.base_url + "/account/two-factor")
    expect(page.locator("main")).to_contain_text("10 recovery codes left.")
    context.close()

    with Session(site.engine) as session:
        acts = [
            (entry.action, entry.detail.get("method"))
            for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.at))).all()
        ]
    assert acts == [
        ("sign_in", "password"),
        ("two_factor.enrolled", None),
        ("sign_out", None),
        ("sign_in", "totp"),
    ]
