"""The operator console page: who may open it, what it is served with, and its static files."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from service.app import create_app
from service.auth.models import User
from service.clock import ManualClock
from service.paths import templates_dir
from service.settings import Settings
from service.web.console import STATIC_DIR
from tests.factories import login, make_company, make_user
from tests.people import sign_in


@pytest.fixture
def twilio_client(settings: Settings, engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": SecretStr("t" * 32)}
    )
    with TestClient(create_app(settings=configured, engine=engine)) as test_client:
        yield test_client


def test_console_sends_a_visitor_to_the_login_page(client: TestClient) -> None:
    response = client.get("/console", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fconsole"


def test_console_is_refused_to_a_client_user(client: TestClient, client_user: User) -> None:
    sign_in(client, client_user)

    response = client.get("/console")

    assert response.status_code == 403
    assert "オペレーターと管理者のみ" in response.text
    assert "console.js" not in response.text


def test_operator_console_offers_the_simulator_without_twilio(
    client: TestClient, session: Session, operator: User
) -> None:
    make_company(session, slug="sakura-dental", name="さくら歯科クリニック")
    sign_in(client, operator)

    page = client.get("/console")

    assert page.status_code == 200
    assert 'id="simulate-form"' in page.text
    assert '<option value="sakura-dental">さくら歯科クリニック</option>' in page.text
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', page.text)
    assert re.search(r'<script type="module" src="/static/console\.js\?v=\w+">', page.text)
    assert re.search(r'<link rel="stylesheet" href="/static/console\.css\?v=\w+">', page.text)
    assert 'data-can-take-memos="true"' in page.text
    assert 'id="new-memo"' in page.text
    # The shortcuts are written on the page itself.
    for shortcut in ("Alt</kbd>+<kbd>A", "F2", "Ctrl</kbd>+<kbd>Enter", "Alt</kbd>+<kbd>N"):
        assert shortcut in page.text


def test_operator_console_has_no_simulator_with_twilio(
    twilio_client: TestClient, session: Session, operator: User
) -> None:
    make_company(session)
    sign_in(twilio_client, operator)

    page = twilio_client.get("/console")

    assert page.status_code == 200
    assert 'id="calls"' in page.text
    assert 'id="simulate-form"' not in page.text
    assert "着信をシミュレート" not in page.text


def test_admin_may_watch_the_console_but_not_take_memos(client: TestClient, admin: User) -> None:
    sign_in(client, admin)

    page = client.get("/console")

    assert page.status_code == 200
    assert 'data-can-take-memos="false"' in page.text
    assert 'id="new-memo"' not in page.text


def test_company_names_are_escaped_on_the_console(
    client: TestClient, session: Session, operator: User
) -> None:
    make_company(session, slug="tricky", name='<img src=x onerror="alert(1)">')
    sign_in(client, operator)

    page = client.get("/console")

    assert "<img src=x" not in page.text
    assert "&lt;img src=x" in page.text
    # In the JSON the script reads, "<" is escaped too, so no tag can end the <script> block.
    island = re.search(r'id="console-companies"[^>]*>(.*?)</script>', page.text, re.S)
    assert island is not None
    assert "<" not in island.group(1)


def test_static_files_are_served(client: TestClient) -> None:
    script = client.get("/static/console.js")
    style = client.get("/static/console.css")

    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    # The console opens the page's one event stream through the shared helper.
    assert "liveStream({" in script.text
    assert "new EventSource('/api/v1/events')" in client.get("/static/ui.js").text
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert client.get("/static/nothing-here.js").status_code == 404


def test_console_script_never_inserts_markup() -> None:
    """Data from callers reaches the page as text only."""
    source = (STATIC_DIR / "console.js").read_text(encoding="utf-8")

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source
    # No inline handlers in the page either.
    page = (templates_dir() / "pages" / "console.html").read_text(encoding="utf-8")
    assert not re.search(r"\son[a-z]+=", page)


def test_the_console_page_is_in_the_readers_language_only(
    client: TestClient, session: Session
) -> None:
    from tests.i18n.japanese import japanese_in

    make_user(session, email="op-en@example.jp", password="correct horse battery")
    login(client, "op-en@example.jp", "correct horse battery")

    english = client.get("/console", headers={"Accept-Language": "en"})
    japanese = client.get("/console", headers={"Accept-Language": "ja"})

    assert english.status_code == japanese.status_code == 200
    assert japanese_in(english.text) == []
    assert "Answer a call to open its script and memo form here." in english.text
    assert "応答するとスクリプトとメモ欄がここに開きます。" in japanese.text
    assert '<span class="en">' not in japanese.text
