"""The references in docs/ stay true to the app and stay inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from starlette.routing import Mount

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _served(routes: list[object]) -> set[tuple[str, str]]:
    """(method, path) of every route, with path parameters written `{}`."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            continue  # /static: files, not routes
        path = getattr(route, "path", None)
        if path is None:
            # A router included whole (FastAPI keeps it as it was written, prefix included).
            found |= _served(list(route.original_router.routes))  # type: ignore[attr-defined]
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, re.sub(r"\{[^}]*\}", "{}", path)))
    return found


def test_the_http_reference_lists_every_route_and_no_other(app: FastAPI) -> None:
    text = (DOCS / "http.md").read_text(encoding="utf-8")
    documented = {
        (method, re.sub(r"\{[^}]*\}", "{}", path)) for method, path in ROUTE.findall(text)
    }
    served = _served(list(app.routes))
    assert {("POST", "/api/v1/memos"), ("POST", "/twilio/sms"), ("GET", "/docs")} <= served
    assert sorted(served - documented) == []
    assert sorted(documented - served) == []


def test_the_docs_link_only_to_files_in_the_repository() -> None:
    pages = sorted(DOCS.glob("*.md"))
    assert {page.name for page in pages} >= {"clients.md", "http.md", "settings.md"}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "CONTRACT" not in text, page.name
        assert "shared/" not in text, page.name
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://")):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(REPO), (page.name, target)
            assert resolved.exists(), (page.name, target)
