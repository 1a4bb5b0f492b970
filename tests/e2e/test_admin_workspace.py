"""Every admin page at phone width, in Japanese and in English, usable with a screen reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session

from service.auth.models import Role
from service.auth.service import create_user
from tests.e2e.conftest import PASSWORD, REPO, Site
from tests.i18n.japanese import japanese_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 740}
ADMIN_EMAIL = "admin@relay.example"
# Every page of the workspace the navigation must reach, and each must hold up on a phone.
PAGES = [
    "/admin/companies",
    "/admin/companies/new",
    "/admin/companies/sakura-dental",
    "/admin/users",
    "/admin/two-factor",
    "/admin/secrets",
    "/memos",
    "/admin/audit",
    "/board",
    "/console",
]
NAVIGATION = [
    "/admin/companies",
    "/admin/users",
    "/admin/two-factor",
    "/admin/secrets",
    "/memos",
    "/admin/audit",
    "/board",
    "/console",
]

# A control no one can name to a screen reader: visible, and neither labelled nor titled.
UNNAMED_CONTROLS = """
() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length)
    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
    && !el.title && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 160))
"""
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
# The page's own words: the text of the page without the parts marked as in another language
# (a preview of what the company receives, the company's greeting), which say so with `lang`.
# (It takes those parts out of the page: run it last.)
OWN_WORDS = """
() => {
  const page = document.documentElement.lang;
  document.body.querySelectorAll('[lang]').forEach((el) => {
    if (!el.lang.startsWith(page)) el.remove();
  });
  return document.body.innerText;
}
"""


def _company_words() -> tuple[str, ...]:
    """The example company's own words (its data), which an English page shows as written."""
    document = yaml.safe_load((REPO / "clients" / "sakura-dental.yaml").read_text("utf-8"))
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return tuple(sorted(found, key=len, reverse=True))


@pytest.fixture
def admin_site(site: Site) -> Site:
    with Session(site.engine) as session:
        create_user(
            session=session,
            email=ADMIN_EMAIL,
            role=Role.admin,
            password=PASSWORD,
            display_name="Admin",
        )
        session.commit()
    return site


def _signed_in_page(browser: Any, site: Site, locale: str) -> tuple[Any, Any]:
    context = browser.new_context(
        base_url=site.base_url, viewport=PHONE, locale=locale, timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    return context, page


@pytest.mark.parametrize("locale", ["ja-JP", "en-US"])
def test_every_admin_page_holds_up_on_a_phone_in_one_language(
    browser: Any, admin_site: Site, locale: str, screenshots: Path | None
) -> None:
    context, page = _signed_in_page(browser, admin_site, locale)
    allowed = (*_company_words(), "鈴木 花子")
    problems: list[str] = []
    try:
        for path in PAGES:
            response = page.goto(path)
            assert response is not None
            if response.status != 200:
                problems.append(f"{path}: {response.status}")
                continue
            page.wait_for_load_state("networkidle")
            if (overflow := page.evaluate(OVERFLOW)) > 1:
                problems.append(f"{path}: {overflow}px wider than a phone")
            if unnamed := page.evaluate(UNNAMED_CONTROLS):
                problems.append(f"{path}: controls without a name: {unnamed}")
            if not page.locator("h1").count():
                problems.append(f"{path}: no heading")
            if screenshots is not None:
                name = path.strip("/").replace("/", "-")
                page.screenshot(path=str(screenshots / f"{name}-{locale}.png"), full_page=True)
            text = page.evaluate(OWN_WORDS)
            if locale.startswith("en") and (found := japanese_in(text, allowed=allowed)):
                problems.append(f"{path}: Japanese on an English page: {''.join(found)}")
            if locale.startswith("ja") and "Sign out" in text:
                problems.append(f"{path}: English on a Japanese page")
        page.goto("/admin/companies")
        links = page.locator("nav a").evaluate_all("(links) => links.map((a) => a.pathname)")
        # This server has no real provider, so the dev outbox is in use and in the navigation.
        missing = [path for path in [*NAVIGATION, "/dev/outbox"] if path not in links]
        assert not missing, f"the navigation does not reach {missing}"
        unknown = page.goto("/admin/no-such-page")
        assert unknown is not None and unknown.status == 404
        assert unknown.headers["content-type"].startswith("text/html")
        assert page.locator("h1").count() == 1
    finally:
        context.close()
    assert not problems, "\n".join(problems)
