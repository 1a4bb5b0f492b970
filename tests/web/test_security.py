"""Security headers on every response, and a CSP nonce that every inline block of a page carries."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.ack_links import make_ack_token
from service.settings import Settings
from service.web.console import STATIC_DIR
from tests.dispatch.conftest import take_memo
from tests.factories import login, make_client_user, make_user
from tests.people import sign_in

PASSWORD = "correct horse battery"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
OPENING_TAG = re.compile(r"<(style|script)\b([^>]*)>", re.IGNORECASE)


def csp(response: Response) -> dict[str, str]:
    """The response's Content-Security-Policy, by directive."""
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, _, sources = part.strip().partition(" ")
        directives[name] = sources
    return directives


def nonce(response: Response) -> str:
    found = re.search(r"'nonce-([A-Za-z0-9_-]+)'", csp(response)["script-src"])
    assert found is not None, "the policy names no nonce"
    return found.group(1)


def inline_blocks(html: str) -> list[str]:
    """The attributes of every inline <style> and executable inline <script> in a page."""
    blocks = []
    for tag, attributes in OPENING_TAG.findall(html):
        if tag.lower() == "script" and (
            "src=" in attributes or 'type="application/json"' in attributes
        ):
            continue  # a script file of this site, or a data block (never executed)
        blocks.append(attributes)
    return blocks


def assert_secured(response: Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = csp(response)
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "strict-transport-security" not in response.headers  # http://testserver


def test_every_kind_of_response_carries_the_headers(
    client: TestClient, session: Session, operator: User
) -> None:
    responses = [
        client.get("/login"),
        client.get("/healthz"),
        client.get("/api/v1/memos"),  # 401
        client.get("/no/such/page"),  # 404
        client.get("/static/ui.js"),
        client.post("/login", content=b"x" * (20 * 1024)),  # 413 from the limits
        client.get("/a/not-a-token"),
    ]
    for response in responses:
        assert_secured(response)


def test_each_response_has_its_own_nonce(client: TestClient) -> None:
    first, second = client.get("/login"), client.get("/login")
    assert nonce(first) != nonce(second)
    assert len(nonce(first)) >= 22


def _pages(
    client: TestClient, session: Session, settings: Settings, operator: User, company: Company
) -> dict[str, str]:
    """Each kind of page, as whoever may see it: name → path."""
    memo = take_memo(session, operator)
    token = make_ack_token(secret=settings.secret(), memo_id=memo.id, contact_key="director")
    make_user(session, email="admin@relay.example", role=Role.admin)
    make_client_user(session, company_id=company.id, email="uketsuke@example.jp")
    return {
        "login": "/login",
        "ack": f"/a/{token}",
        "operator:home": "/",
        "operator:console": "/console",
        "operator:outbox": "/dev/outbox",
        "admin:board": "/board",
        "client:portal": "/portal",
        "client:memo": f"/portal/memos/{memo.id}",
    }


def test_every_inline_style_and_script_carries_the_nonce(
    app: FastAPI, session: Session, settings: Settings, operator: User, company: Company
) -> None:
    with TestClient(app) as anonymous:
        pages = _pages(anonymous, session, settings, operator, company)
    signed_in = {
        "operator": "op@relay.example",
        "admin": "admin@relay.example",
        "client": "uketsuke@example.jp",
    }
    checked = 0
    for name, path in pages.items():
        role, _, _ = name.rpartition(":")
        with TestClient(app) as client:
            if role:
                assert login(client, signed_in[role], PASSWORD).status_code == 303
            page = client.get(path)
        assert page.status_code == 200, (name, page.status_code)
        assert_secured(page)
        blocks = inline_blocks(page.text)
        assert blocks, f"{name}: no inline style or script to check"
        for attributes in blocks:
            assert f'nonce="{nonce(page)}"' in attributes, (name, attributes)
            checked += 1
    assert checked >= len(pages)


def test_only_the_outbox_lets_relayed_email_keep_its_inline_styles(
    client: TestClient, session: Session, operator: User
) -> None:
    sign_in(client, operator)
    outbox = csp(client.get("/dev/outbox"))
    assert "'unsafe-inline'" in outbox["style-src"]
    assert "'unsafe-inline'" not in outbox["script-src"]

    console = csp(client.get("/console"))
    assert "'unsafe-inline'" not in console["style-src"]
    assert console["connect-src"] == "'self'"


def test_templates_and_scripts_use_nothing_the_policy_forbids() -> None:
    for template in (TEMPLATES / "pages").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name}: inline event handler"
        assert not re.search(r"\sstyle\s*=", text), f"{template.name}: style attribute"
        assert "javascript:" not in text, template.name
    for script in STATIC_DIR.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        for forbidden in ("eval(", "new Function", "setAttribute('style'", "innerHTML", ".cssText"):
            assert forbidden not in text, f"{script.name}: {forbidden}"


def test_https_installs_get_strict_transport_security(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    public = settings.model_copy(update={"public_base_url": "https://relay.example.jp"})
    with TestClient(create_app(settings=public, engine=engine)) as client:
        response = client.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"
