"""Two operators and a supervisor on one call, each in a browser of their own.

One operator answers; every other console shows who has the call at once and can neither
answer it nor hang it up; when the call ends it leaves every console at once, while the
memo its operator is writing stays. Runs on SQLite and, when configured, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.auth.models import Role, User
from service.auth.service import create_user
from service.calls.models import Call
from service.companies.service import sync_path
from tests.e2e.conftest import PASSWORD, REPO
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

GREETING = "お電話ありがとうございます。さくら歯科クリニックでございます。"
SUZUKI = ("suzuki@relay.example", "鈴木 花子")
TANAKA = ("tanaka@relay.example", "田中 一郎")
SATO = ("sato@relay.example", "佐藤 監督")
# Events reach a console within a second; the margin is for a busy test machine.
AT_ONCE_MS = 3000


@dataclass(frozen=True)
class Office:
    base_url: str
    engine: Engine


@pytest.fixture
def office(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Office]:
    """`relay serve` with さくら歯科クリニック, two operators and a supervisor."""
    with Session(engine) as session:
        sync_path(session=session, path=REPO / "clients" / "sakura-dental.yaml", changed_by="e2e")
        for (email, name), role in ((SUZUKI, Role.operator), (TANAKA, Role.operator)):
            create_user(
                session=session, email=email, role=role, password=PASSWORD, display_name=name
            )
        email, name = SATO
        create_user(
            session=session, email=email, role=Role.admin, password=PASSWORD, display_name=name
        )
        session.commit()
    env = {"RELAY_DATABASE_URL": database_url, "RELAY_SECRET_KEY": "e2e-secret-key-0123456789"}
    with live_server(env=env, cwd=tmp_path) as base_url:
        yield Office(base_url, engine)


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


@pytest.fixture
def console(browser: Any, office: Office) -> Iterator[Callable[..., Any]]:
    """Opens consoles, each in a browser profile of its own; all are closed afterwards."""
    contexts: list[Any] = []

    def open_console(
        email: str, *, viewport: dict[str, int] | None = None, live: bool = True
    ) -> Any:
        """The console page, signed in as `email`; `live=False` hears no events."""
        context = browser.new_context(
            base_url=office.base_url,
            viewport=viewport or {"width": 1280, "height": 800},
            locale="ja-JP",
            timezone_id="Asia/Tokyo",
        )
        contexts.append(context)
        context.set_default_timeout(10_000)
        page = context.new_page()
        if not live:
            page.route("**/api/v1/events", lambda route: route.abort())
        page.goto("/login?next=%2Fconsole")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/console")
        if live:
            _expect()(page.locator("#live")).to_have_attribute("data-state", "live")
        return page

    yield open_console
    for context in contexts:
        context.close()


def _ring(page: Any, number: str = "090-1111-2222") -> str:
    """Ring every console as a caller would, through this console's simulate form."""
    page.select_option("#simulate-client", "sakura-dental")
    page.fill("#simulate-from", number)
    page.click("#simulate-submit")
    card = page.locator(".call-card")
    _expect()(card.locator(".greeting")).to_have_text(GREETING)
    return str(card.get_attribute("id")).removeprefix("call-")


def _post(page: Any, path: str) -> Any:
    """A POST from this browser, with its session cookie and CSRF token, past its buttons."""
    token = page.evaluate("document.querySelector('meta[name=\"csrf-token\"]').content")
    return page.request.post(path, headers={"X-CSRF-Token": token})


def _answered_by(office: Office, call_id: str) -> str | None:
    with Session(office.engine) as session:
        return session.exec(select(Call.answered_by).where(Call.id == call_id)).one()


def _user_id(office: Office, email: str) -> str:
    with Session(office.engine) as session:
        return session.exec(select(User.id).where(User.email == email)).one()


def test_an_answered_call_is_taken_on_every_other_console_at_once(
    console: Callable[..., Any], office: Office
) -> None:
    expect = _expect()
    suzuki = console(SUZUKI[0])
    tanaka = console(TANAKA[0])
    sato = console(SATO[0])
    call_id = _ring(suzuki)
    theirs = tanaka.locator(".call-card")
    expect(theirs.locator(".greeting")).to_have_text(GREETING)
    expect(theirs.locator(".answer")).to_be_visible()

    suzuki.locator(".call-card .answer").click()
    expect(suzuki.locator(".draft")).to_have_count(1)

    # Tanaka's console learns at once, without a reload, who has the call.
    taken = theirs.locator(".taken-by")
    expect(taken).to_have_text(f"{SUZUKI[1]}さんが応答中", timeout=AT_ONCE_MS)
    expect(theirs.locator(".answer")).to_be_hidden()
    expect(theirs.locator(".hangup")).to_be_hidden()
    # Neither the keyboard nor a forced request gets Tanaka the call, or lets him end it.
    tanaka.keyboard.press("Alt+a")
    forced = _post(tanaka, f"/api/v1/calls/{call_id}/answer")
    assert forced.status == 409
    assert SUZUKI[1] in forced.json()["detail"]
    assert _post(tanaka, f"/api/v1/calls/{call_id}/hangup").status == 403
    expect(tanaka.locator(".draft")).to_have_count(0)
    expect(theirs).to_have_attribute("data-status", "active")
    assert _answered_by(office, call_id) == _user_id(office, SUZUKI[0])

    # The supervisor sees who has it too, and may end it: it leaves every console.
    supervised = sato.locator(".call-card")
    expect(supervised.locator(".taken-by")).to_contain_text(SUZUKI[1])
    expect(supervised.locator(".answer")).to_be_hidden()
    supervised.locator(".hangup").click()
    for page in (suzuki, tanaka, sato):
        expect(page.locator(".call-card")).to_have_count(0, timeout=AT_ONCE_MS)
    expect(suzuki.locator(".draft")).to_have_count(1)


def test_an_answer_pressed_too_late_opens_no_memo_and_says_who_has_the_call(
    console: Callable[..., Any], office: Office
) -> None:
    expect = _expect()
    suzuki = console(SUZUKI[0])
    call_id = _ring(suzuki)
    # Tanaka's console hears no events: it still shows the call as free to answer.
    tanaka = console(TANAKA[0], live=False)
    card = tanaka.locator(".call-card")
    expect(card.locator(".answer")).to_be_visible()

    suzuki.locator(".call-card .answer").click()
    expect(suzuki.locator(".draft")).to_have_count(1)
    card.locator(".answer").click()

    expect(card.locator(".taken-by")).to_contain_text(f"{SUZUKI[1]}さんが応答中")
    expect(card.locator(".answer")).to_be_hidden()
    expect(tanaka.locator(".draft")).to_have_count(0)
    assert tanaka.evaluate("Object.keys(localStorage).filter(k => k.includes('.draft.'))") == []
    assert _answered_by(office, call_id) == _user_id(office, SUZUKI[0])


def test_an_ended_call_leaves_every_console_at_once_and_the_memo_being_written_stays(
    console: Callable[..., Any],
) -> None:
    expect = _expect()
    suzuki = console(SUZUKI[0])
    tanaka = console(TANAKA[0])
    _ring(suzuki)
    expect(tanaka.locator(".call-card .greeting")).to_have_text(GREETING)
    suzuki.locator(".call-card .answer").click()
    draft = suzuki.locator(".draft")
    draft.locator('[name="caller.name"]').fill("山田 太郎")
    draft.locator('[name="body"]').fill("予約の変更をしたいとのこと。")

    suzuki.locator(".call-card .hangup").click()

    for page in (suzuki, tanaka):
        expect(page.locator(".call-card")).to_have_count(0, timeout=AT_ONCE_MS)
        expect(page.locator(".greeting")).to_have_count(0)
        expect(page.locator("#calls-empty")).to_be_visible()
    # Suzuki's memo is not lost with the call: it stays, as typed, and says the call ended.
    expect(draft).to_have_count(1)
    expect(draft.locator('[name="caller.name"]')).to_have_value("山田 太郎")
    expect(draft.locator('[name="body"]')).to_have_value("予約の変更をしたいとのこと。")
    expect(draft.locator(".draft-title")).to_contain_text("終了")


def test_the_script_question_for_name_and_number_leads_to_those_fields(
    console: Callable[..., Any],
) -> None:
    expect = _expect()
    page = console(SUZUKI[0])
    page.keyboard.press("Alt+n")
    draft = page.locator(".draft")
    draft.locator('[name="client"]').select_option("sakura-dental")
    # The question holds the fields it asks for, wherever they sat in the memo column.
    step = draft.locator(".script .step", has=page.locator('[name="caller.name"]'))
    expect(step.locator(".step-text")).to_contain_text("お名前とご連絡先のお電話番号")
    expect(step.locator('[name="caller.phone"]')).to_have_count(1)
    expect(draft.locator('.fields-col [name="caller.name"]')).to_have_count(0)
    step.locator(".step-text").click()
    expect(draft.locator('[name="caller.name"]')).to_be_focused()
    page.keyboard.insert_text("佐々木 一郎")
    page.keyboard.press("Enter")
    expect(draft.locator('[name="caller.phone"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(draft.locator('[name="fields.patient_no"]')).to_be_focused()
    # Choosing no company puts the fields back in the memo column, values kept.
    draft.locator('[name="client"]').select_option("")
    expect(draft.locator('.fields-col [name="caller.name"]')).to_have_value("佐々木 一郎")


def test_the_send_button_stays_in_sight_on_a_1366x768_laptop_while_the_memo_is_written(
    console: Callable[..., Any],
) -> None:
    expect = _expect()
    page = console(SUZUKI[0], viewport={"width": 1366, "height": 768})
    _ring(page)
    page.locator(".call-card .answer").click()
    draft = page.locator(".draft")
    draft.locator('[name="category"]').select_option("inquiry")
    draft.locator('[name="subject"]').fill("予約の変更")
    body = draft.locator('[name="body"]')
    body.click()
    page.keyboard.insert_text(
        "\n".join(f"{n}行目：ご用件の詳細を伺っています。" for n in range(1, 13))
    )
    expect(body).to_be_focused()

    send = draft.locator(".send")
    box = send.bounding_box()
    height = page.evaluate("window.innerHeight")
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (box, height)
    # Nothing covers it: a click where it is seen lands on it, with no scrolling first.
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.closest('button')?.className", [x, y]
    )
    assert on_top == "send"
    page.mouse.click(x, y)
    expect(draft.locator(".send-state")).to_have_text("送信済み")
