"""A complaint followed through on a phone: the director confirms it from the SMS link, records
how the clinic handled it, and the clinic's user finds that account on the portal's memo page
and the resolved complaint counted in the portal's report.

A real `relay serve` (web app and dispatcher, SQLite, the dev outbox as provider) and Debian's
chromium at a 375px-wide phone viewport.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from service.auth.models import Role, User
from service.auth.service import create_api_token, create_user
from service.companies.models import Company
from tests.e2e.conftest import PASSWORD, Site, take_memo

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
DIRECTOR_PHONE = "+819031824471"  # 佐藤 健一 院長 in clients/sakura-dental.yaml
ACK_LINK = re.compile(r"https?://\S+?/a/[A-Za-z0-9_.-]+")
RESPONSE = "院長から山田様へお電話し、予約の行き違いをお詫びしました。"
CAUSE = "受付での予約入力漏れ"
RESULT = "翌日10時の予約をお取りし、ご了承いただきました。"
# Runs before any script of the page: keeps every refusal of the page's CSP.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _phone(browser: Any) -> Any:
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
    )
    context.set_default_timeout(10_000)
    return context


def _ack_link(base_url: str, token: str, timeout: float = 10.0) -> str:
    """The acknowledgement link of the SMS the dispatcher handed to the dev outbox."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(
            f"{base_url}/dev/outbox.json",
            params={"channel": "sms", "to": DIRECTOR_PHONE},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        for message in answer.json()["items"]:
            found = ACK_LINK.search(message["text"])
            if found:
                return found.group(0)
        if time.monotonic() > deadline:
            raise AssertionError(f"no SMS with an acknowledgement link reached {DIRECTOR_PHONE}")
        time.sleep(0.2)


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_complaint_handled_from_the_link_is_seen_on_the_portal(
    browser: Any, site: Site, screenshots: Path | None
) -> None:
    expect = _expect()
    with Session(site.engine) as session:
        operator = session.exec(select(User).where(User.email == site.operator_email)).one()
        token = create_api_token(session=session, user=operator)
        company = session.exec(select(Company)).one()
        create_user(
            session=session,
            email="uketsuke@sakura.example",
            role=Role.client,
            password=PASSWORD,
            company_id=company.id,
            display_name="受付 鈴木",
        )
        session.commit()
    memo = take_memo(site.base_url, token)
    link = urlsplit(_ack_link(site.base_url, token)).path

    phone_context = _phone(browser)
    phone = phone_context.new_page()
    phone.goto(site.base_url + link)
    phone.get_by_role("button", name="内容を確認しました").tap()
    form = phone.locator("form.resolution-form")
    expect(form).to_be_visible()
    _fits(phone)
    phone.fill("#resolution-response", RESPONSE)
    phone.fill("#resolution-cause", CAUSE)
    phone.fill("#resolution-result", RESULT)
    phone.check("input[name=resolved]")
    record = form.locator("button[type=submit]")
    box = record.bounding_box()
    assert box is not None and box["height"] >= 44  # a thumb's worth
    record.tap()
    expect(phone.locator(".resolution")).to_contain_text(RESPONSE)
    _fits(phone)
    if screenshots:
        phone.screenshot(path=str(screenshots / "resolution-phone.png"), full_page=True)
    phone_context.close()

    portal_context = _phone(browser)
    portal_context.add_init_script(COLLECT_VIOLATIONS)
    portal = portal_context.new_page()
    path = f"/portal/memos/{memo['id']}"
    portal.goto(site.base_url + path)
    portal.fill("#email", "uketsuke@sakura.example")
    portal.fill("#password", PASSWORD)
    portal.press("#password", "Enter")
    portal.wait_for_url(f"**{path}")
    shown = portal.locator(".resolution")
    expect(shown).to_contain_text(RESPONSE)
    expect(shown).to_contain_text(CAUSE)
    expect(shown).to_contain_text(RESULT)
    expect(shown).to_contain_text("佐藤 健一 院長")  # the link's contact, by name
    _fits(portal)
    if screenshots:
        portal.screenshot(path=str(screenshots / "resolution-portal.png"), full_page=True)

    # The portal's report of this month counts the complaint and how long resolving it took.
    portal.goto(site.base_url + "/portal")
    portal.locator("a[href='/portal/reports']").tap()
    portal.wait_for_url("**/portal/reports")
    expect(portal.locator("[data-figure=complaints] .value")).to_have_text("1")
    expect(portal.locator("[data-figure=resolve] .value")).not_to_have_text("–")
    expect(portal.locator("[data-figure=resolve] .value")).to_have_text(re.compile(r"\d"))
    chart = portal.locator("[data-chart=categories] svg")
    expect(chart).to_be_visible()
    chart_box = chart.bounding_box()
    assert chart_box is not None and chart_box["width"] <= PHONE["width"]
    # The chart's own stylesheet applies (its nonce is the page's): the plot's background is
    # not the SVG default black fill.
    assert (
        portal.evaluate(
            "getComputedStyle(document.querySelector('[data-chart=categories] svg .plot .background')).fill"
        )
        != "rgb(0, 0, 0)"
    )
    assert portal.locator(".flagged-callers").count() == 0
    _fits(portal)
    assert portal.evaluate("window.__cspViolations") == []
    if screenshots:
        portal.screenshot(path=str(screenshots / "resolution-report.png"), full_page=True)
    portal_context.close()
