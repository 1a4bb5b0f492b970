"""Swagger UI at /docs works in a real browser without the internet, under the strict policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Site
from tests.e2e.test_csp import Watched

pytestmark = pytest.mark.e2e


@pytest.fixture
def watched(browser: Any, site: Site) -> Iterator[Watched]:
    """A watched browser profile on the running site, closed afterwards."""
    profile = Watched(browser, site.base_url)
    yield profile
    profile.close()


def test_staff_read_the_api_in_swagger_ui(watched: Watched, site: Site) -> None:
    from playwright.sync_api import expect

    failed: list[str] = []
    outside: list[str] = []
    watched.page.on("requestfailed", lambda request: failed.append(request.url))
    watched.page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    watched.page.on(
        "request",
        lambda request: (
            None if request.url.startswith(site.base_url) else outside.append(request.url)
        ),
    )
    watched.sign_in(site.operator_email)

    watched.open("/docs")
    # Swagger UI's bundle ran, read /openapi.json and listed the operations.
    operation = watched.page.locator(".opblock-post", has_text="/api/v1/memos").first
    expect(operation).to_be_visible()
    assert watched.page.locator(".opblock").count() > 10
    # Its own stylesheet applied: the POST operations get their green border.
    border = operation.evaluate("element => getComputedStyle(element).borderColor")
    assert border == "rgb(73, 204, 144)"

    assert watched.refusals() == []
    assert failed == []
    assert outside == []
