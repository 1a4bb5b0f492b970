"""The supervisor board page, and the callbacks section of the operator console."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.escalation.service import fire_due
from service.paths import templates_dir
from service.web.console import STATIC_DIR
from tests.dispatch.conftest import take_memo
from tests.people import sign_in


def _board_data(html: str) -> dict[str, list[dict[str, object]]]:
    island = re.search(
        r'<script type="application/json" id="board-data">(.*?)</script>', html, re.S
    )
    assert island is not None, "the board page carries no data"
    assert "<" not in island.group(1)  # nothing in it can close the <script> block
    data: dict[str, list[dict[str, object]]] = json.loads(island.group(1))
    return data


def test_board_sends_a_visitor_to_the_login_page(client: TestClient) -> None:
    response = client.get("/board", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fboard"


def test_board_is_refused_to_operators_and_client_users(
    client: TestClient, operator: User, client_user: User
) -> None:
    sign_in(client, operator)

    page = client.get("/board")

    assert page.status_code == 403
    assert "管理者のみ" in page.text
    assert "board.js" not in page.text
    assert "board-data" not in page.text

    client.cookies.clear()
    sign_in(client, client_user)
    assert client.get("/board").status_code == 403


def test_admin_board_has_five_panels_a_csrf_token_and_its_script(
    client: TestClient, admin: User
) -> None:
    sign_in(client, admin)

    page = client.get("/board")

    assert page.status_code == 200
    for panel in (
        "確認待ち",
        "誰にも届いていない伝言",
        "配信失敗",
        "エスカレーション",
        "期限切れの折り返し",
    ):
        assert panel in page.text
    for tbody in ("waiting", "unreached", "failed", "escalations", "overdue", "follow-ups"):
        assert f'<tbody id="{tbody}">' in page.text
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', page.text)
    assert re.search(r'<script type="module" src="/static/board\.js\?v=\w+">', page.text)
    assert re.search(r'"/static/ui\.js": "/static/ui\.js\?v=\w+"', page.text)
    assert _board_data(page.text) == {
        "waiting": [],
        "unreached": [],
        "failed_deliveries": [],
        "escalations": [],
        "overdue_callbacks": [],
        "overdue_follow_ups": [],
    }


def test_board_opens_with_what_waits_and_what_is_overdue(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    company: Company,
    operator: User,
    admin: User,
) -> None:
    late = take_memo(session, operator, urgency="urgent", subject="至急：予約の件")
    seen = take_memo(session, operator, subject="確認済みの件")
    acknowledge(session=session, memo_id=seen.id, by="director", via=AckVia.operator)
    session.commit()
    clock.advance(timedelta(hours=1, minutes=5))
    while fire_due(session=session, worker="test"):
        session.commit()
    session.commit()
    sign_in(client, admin)

    data = _board_data(client.get("/board").text)

    [waiting] = data["waiting"]
    assert (waiting["memo_id"], waiting["subject"], waiting["urgency"]) == (
        late.id,
        "至急：予約の件",
        "urgent",
    )
    assert waiting["age_seconds"] == 65 * 60
    assert [step["memo_id"] for step in data["escalations"]] == [late.id, late.id]
    [overdue] = data["overdue_callbacks"]
    assert (overdue["memo_id"], overdue["phone"]) == (late.id, "+819012345678")
    # The same figures the script refetches from the API.
    assert client.get("/api/v1/board").json() == data


def test_home_page_links_the_admin_to_the_board(client: TestClient, admin: User) -> None:
    sign_in(client, admin)

    assert 'href="/board"' in client.get("/").text


def test_home_page_of_an_operator_has_no_board_link(client: TestClient, operator: User) -> None:
    sign_in(client, operator)

    assert 'href="/board"' not in client.get("/").text


def test_console_has_the_callbacks_section_and_its_script(
    client: TestClient, operator: User
) -> None:
    sign_in(client, operator)

    page = client.get("/console")

    assert page.status_code == 200
    assert 'id="callbacks-section"' in page.text
    assert ">折り返し" in page.text  # the section's title, in the reader's language
    english = client.get("/console", headers={"Accept-Language": "en"})
    assert "Callbacks owed" in english.text
    assert 'id="callback-form-template"' in page.text
    for outcome in ("acknowledged", "no_answer", "left_message"):
        assert f'name="outcome" value="{outcome}"' in page.text
    for minutes in ("15", "30", "60"):
        assert f'name="retry" value="{minutes}"' in page.text
    assert 'name="confirmed_by"' in page.text
    assert re.search(r'<script type="module" src="/static/callbacks\.js\?v=\w+">', page.text)
    assert re.search(r'"/static/callback_form\.js": "/static/callback_form\.js\?v=\w+"', page.text)
    assert re.search(r'<link rel="stylesheet" href="/static/callbacks\.css\?v=\w+">', page.text)
    # The import map comes before any module script, or the browser ignores it.
    assert page.text.index('type="importmap"') < page.text.index('type="module"')
    assert 'href="/board"' not in page.text  # the board link is for admins


def test_admin_console_links_to_the_board(client: TestClient, admin: User) -> None:
    sign_in(client, admin)

    page = client.get("/console")

    assert 'href="/board"' in page.text
    assert 'data-role="admin"' in page.text


def test_board_and_callbacks_scripts_are_served(client: TestClient) -> None:
    for name, needle in (
        ("board.js", "liveStream({"),
        ("callbacks.js", "/take"),
        ("callback_form.js", "/outcome"),
        ("ui.js", "export function h("),
        ("ui.js", "new EventSource('/api/v1/events')"),
    ):
        script = client.get(f"/static/{name}")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert needle in script.text
    for name in ("board.css", "callbacks.css"):
        assert client.get(f"/static/{name}").headers["content-type"].startswith("text/css")


def test_board_and_callbacks_never_insert_markup() -> None:
    """Company names, subjects and notes reach the page as text only."""
    for name in ("board.js", "callbacks.js", "callback_form.js", "ui.js"):
        source = (STATIC_DIR / name).read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{name} uses {sink}"
    for page in ("board.html", "console.html"):
        text = (templates_dir() / "pages" / page).read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+=", text)


def test_the_board_is_in_the_readers_language_only(client: TestClient, admin: User) -> None:
    from tests.i18n.japanese import japanese_in

    sign_in(client, admin)

    english = client.get("/board", headers={"Accept-Language": "en"})
    japanese = client.get("/board", headers={"Accept-Language": "ja"})

    assert japanese_in(english.text) == []
    assert "Waiting for acknowledgement" in english.text
    assert '"Complaint": "Complaint"' in english.text  # the scripts' catalogue, in English
    assert (
        "確認待ち" in japanese.text
        and "Waiting for acknowledgement" not in japanese.text.split('id="relay-i18n"')[0]
    )
