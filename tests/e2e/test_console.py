"""The operator console in a real browser: a call rings, is picked up, and its memo is taken."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from service.audit.service import Actor
from service.auth.models import User
from service.calls.caller_notes import add_caller_note
from service.calls.caller_policies import set_caller_policy
from service.companies.service import get_company
from service.memos.models import Memo
from tests.e2e.conftest import PASSWORD, Site

pytestmark = pytest.mark.e2e

GREETING = "お電話ありがとうございます。さくら歯科クリニックでございます。"
VIEWPORT = {"width": 1280, "height": 800}


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _memos(site: Site) -> list[Memo]:
    with Session(site.engine) as session:
        return list(session.exec(select(Memo).order_by(col(Memo.created_at))).all())


def _memo_count(site: Site) -> int:
    with Session(site.engine) as session:
        return int(session.exec(select(func.count()).select_from(Memo)).one())


def _open_console(browser: Any, site: Site) -> tuple[Any, Any]:
    """A new browser profile signed in through the login page, on the console."""
    context = browser.new_context(
        base_url=site.base_url, viewport=VIEWPORT, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/console")
    assert "/login" in page.url
    _expect()(page.locator("#email")).to_be_focused()  # autofocus, may land just after load
    page.keyboard.type(site.operator_email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console")
    _expect()(page.locator("#live")).to_have_attribute("data-state", "live")
    return context, page


def _simulate(page: Any, number: str) -> None:
    page.select_option("#simulate-client", "sakura-dental")
    page.fill("#simulate-from", number)
    page.click("#simulate-submit")


def test_a_call_rings_is_answered_and_its_memo_survives_a_reload(
    browser: Any, site: Site, screenshots: Path | None
) -> None:
    expect = _expect()
    context, console = _open_console(browser, site)
    # A second console in the same office rings the phone.
    other = context.new_page()
    other.goto("/console")
    expect(other.locator("#live")).to_have_attribute("data-state", "live")

    rang_at = time.monotonic()
    _simulate(other, "090-1111-2222")
    card = console.locator(".call-card").first
    expect(card.locator(".greeting")).to_have_text(GREETING, timeout=1000)
    assert time.monotonic() - rang_at < 1.0
    expect(card.locator(".call-company")).to_have_text("さくら歯科クリニック")
    expect(card.locator(".phone")).to_have_text("090-1111-2222")
    expect(card).to_have_attribute("data-status", "ringing")
    if screenshots:
        console.screenshot(path=str(screenshots / "console-ringing.png"), full_page=True)
        console.set_viewport_size({"width": 390, "height": 844})
        console.screenshot(path=str(screenshots / "console-ringing-phone.png"), full_page=True)
        console.set_viewport_size(VIEWPORT)
    other.close()

    # Pick up with the keyboard: the memo form opens beside the script, on the field of the
    # first question, the caller's name and number (the script's `field: [caller.name, …]`).
    keyboard = console.keyboard
    keyboard.press("Alt+a")
    draft = console.locator(".draft")
    expect(draft.locator(".send-state")).to_contain_text("未送信")
    expect(draft.locator(".step.first .step-text")).to_have_text(GREETING)
    name_step = draft.locator(".step", has=console.locator('[name="caller.name"]'))
    expect(name_step.locator(".step-text")).to_contain_text("お名前とご連絡先のお電話番号")
    expect(draft.locator('[name="caller.name"]')).to_be_focused()
    expect(draft.locator('[name="caller.phone"]')).to_have_value("090-1111-2222")
    expect(card).to_have_attribute("data-status", "active")

    keyboard.insert_text("山田 太郎")
    keyboard.press("Enter")  # moves on to the number asked with it, never sends
    expect(draft.locator('[name="caller.phone"]')).to_be_focused()
    keyboard.press("Enter")  # already filled in: on to the next question
    expect(draft.locator('[name="fields.patient_no"]')).to_be_focused()
    keyboard.type("12345")
    keyboard.press("Tab")
    keyboard.insert_text("先週金曜日の15時")
    keyboard.press("Tab")
    keyboard.insert_text("右下の奥歯が痛む")
    keyboard.press("Enter")  # moves on, never sends
    expect(draft.locator('[name="fields.callback_time"]')).to_be_focused()
    keyboard.insert_text("夕方以降")
    keyboard.press("Tab")  # caller's company: none
    expect(draft.locator('[name="caller.company"]')).to_be_focused()
    keyboard.press("Tab")
    keyboard.press("ArrowDown")  # category: 苦情
    keyboard.press("Tab")  # urgency stays 通常
    keyboard.press("Tab")
    keyboard.insert_text("予約時間の行き違い")
    expect(draft.locator('[name="subject"]')).to_be_focused()
    assert _memo_count(site) == 0
    if screenshots:
        console.screenshot(path=str(screenshots / "console-memo.png"))

    console.reload()
    draft = console.locator(".draft")
    expect(draft.locator('[name="fields.patient_no"]')).to_have_value("12345")
    expect(draft.locator('[name="fields.symptoms"]')).to_have_value("右下の奥歯が痛む")
    expect(draft.locator('[name="caller.name"]')).to_have_value("山田 太郎")
    expect(draft.locator('[name="category"]')).to_have_value("complaint")
    expect(draft.locator('[name="subject"]')).to_have_value("予約時間の行き違い")
    expect(draft.locator('[name="subject"]')).to_be_focused()
    expect(console.locator(".call-card .greeting")).to_have_text(GREETING)

    keyboard.press("Tab")
    keyboard.insert_text("予約した時間に伺ったところ、予約が入っていないと言われた。")
    keyboard.press("Control+Enter")
    expect(draft.locator(".send-state")).to_have_text("送信済み")
    row = console.locator("#memo-rows tr").first
    expect(row).to_contain_text("予約時間の行き違い")
    expect(row).to_contain_text("苦情")
    expect(row).to_contain_text("さくら歯科クリニック")
    if screenshots:
        console.screenshot(path=str(screenshots / "console-sent.png"), full_page=True)

    memos = _memos(site)
    assert len(memos) == 1
    memo = memos[0]
    assert memo.caller_name == "山田 太郎"
    assert memo.caller_phone == "+819011112222"
    assert memo.category == "complaint"
    assert memo.subject == "予約時間の行き違い"
    assert memo.call_id is not None
    assert memo.fields == {
        "patient_no": "12345",
        "visit_date": "先週金曜日の15時",
        "symptoms": "右下の奥歯が痛む",
        "callback_time": "夕方以降",
    }
    # The sent draft is gone from the browser's storage.
    expect(console.locator(".draft")).to_have_count(0, timeout=5000)
    assert console.evaluate("Object.keys(localStorage).filter(k => k.includes('.draft.'))") == []
    context.close()


def test_a_memo_whose_answer_is_lost_is_sent_again_and_stored_once(
    browser: Any, site: Site
) -> None:
    expect = _expect()
    context, console = _open_console(browser, site)
    keyboard = console.keyboard

    keyboard.press("Alt+n")  # a memo without a call: a walk-in or a callback
    draft = console.locator(".draft")
    expect(draft.locator('[name="client"]')).to_be_focused()
    keyboard.press("ArrowDown")
    expect(draft.locator('[name="fields.patient_no"]')).to_be_visible()
    draft.locator('[name="caller.name"]').fill("佐々木 一郎")
    draft.locator('[name="caller.phone"]').fill("123")
    draft.locator('[name="category"]').select_option("callback")
    draft.locator('[name="urgency"]').select_option("urgent")
    draft.locator('[name="subject"]').fill("至急折り返しを希望")

    # A wrong number comes back as 422 and is shown beside the phone field.
    keyboard.press("Control+Enter")
    phone = draft.locator('[name="caller.phone"]')
    expect(phone).to_have_attribute("aria-invalid", "true")
    error = console.locator(f"#{phone.get_attribute('id')}-error")
    expect(error).to_contain_text("電話番号として読めません")
    expect(phone).to_be_focused()
    phone.fill("03-5820-0000")
    expect(error).to_be_hidden()

    # The first answer is lost on the way back: the server has the memo, the browser does not.
    # Later attempts fail too (the line is still down) until the test lets them through.
    keys: list[str] = []
    line_up = False

    def flaky_line(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()
            route.abort("connectionreset")
        elif line_up:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    console.route("**/api/v1/memos", flaky_line)
    draft.locator('[name="body"]').focus()
    keyboard.insert_text("明日の午前中に院長から折り返しがほしいとのこと。")
    keyboard.press("Control+Enter")
    keyboard.press("Control+Enter")  # impatient: pressed again at once
    # Unsent as far as the browser knows: the draft stays stored and is retried by itself.
    expect(draft.locator(".send-state")).to_contain_text("再送待ち")
    stored = console.evaluate(
        "Object.keys(localStorage).filter(k => k.includes('.draft.'))"
        ".map(k => JSON.parse(localStorage.getItem(k)))"
        ".map(d => [d.key, d.values.subject])"
    )
    assert stored == [[keys[0], "至急折り返しを希望"]]
    assert _memo_count(site) == 1

    line_up = True
    keyboard.press("Control+Enter")  # send now rather than wait for the next retry
    expect(draft.locator(".send-state")).to_have_text("送信済み", timeout=10_000)

    assert len(keys) >= 2
    assert len(set(keys)) == 1
    memos = _memos(site)
    assert len(memos) == 1
    assert memos[0].caller_phone == "+81358200000"
    assert memos[0].urgency == "urgent"
    assert memos[0].call_id is None
    expect(console.locator("#memo-rows tr")).to_have_count(1)
    expect(console.locator("#memo-rows tr").first).to_contain_text("至急")
    context.close()


def test_an_enter_that_confirms_japanese_input_does_not_move_or_send(
    browser: Any, site: Site
) -> None:
    expect = _expect()
    context, console = _open_console(browser, site)
    keyboard = console.keyboard
    keyboard.press("Alt+n")
    draft = console.locator(".draft")
    keyboard.press("ArrowDown")
    draft.locator('[name="category"]').select_option("inquiry")
    subject = draft.locator('[name="subject"]')
    subject.focus()
    # Drive the input method as a Japanese IME does: compose, press Enter to pick, commit.
    ime = context.new_cdp_session(console)
    composing = {"text": "しんさつ", "selectionStart": 4, "selectionEnd": 4}
    ime.send("Input.imeSetComposition", composing)
    keyboard.press("Enter")
    keyboard.press("Control+Enter")
    ime.send("Input.insertText", {"text": "診察"})
    expect(subject).to_have_value("診察")
    expect(subject).to_be_focused()
    expect(draft.locator(".send-state")).to_contain_text("未送信")
    stored = console.evaluate(
        "Object.keys(localStorage).filter(k => k.includes('.draft.'))"
        ".map(k => JSON.parse(localStorage.getItem(k)).values.subject)"
    )
    assert stored == ["診察"]
    # With the composition over, a plain Enter moves on to the next field and still sends nothing.
    keyboard.press("Enter")
    expect(draft.locator('[name="body"]')).to_be_focused()
    console.wait_for_timeout(300)
    assert _memo_count(site) == 0
    context.close()


def test_a_flagged_caller_is_announced_on_the_next_call(
    browser: Any, site: Site, screenshots: Path | None
) -> None:
    expect = _expect()
    context, console = _open_console(browser, site)
    _simulate(console, "080-3333-4444")
    card = console.locator(".call-card").first
    expect(card.locator(".greeting")).to_have_text(GREETING)
    expect(card.locator(".flag-warning")).to_have_count(0)

    card.locator(".flag-open").click()
    expect(card.locator('textarea[name="note"]')).to_be_focused()
    console.keyboard.insert_text("大声で30分以上同じ要求を繰り返す")
    console.keyboard.press("Control+Enter")
    warning = card.locator(".flag-warning")
    expect(warning).to_contain_text("要注意の発信者")
    expect(warning).to_contain_text("カスハラ")
    expect(warning).to_contain_text("大声で30分以上同じ要求を繰り返す")
    expect(warning).to_contain_text(site.operator_name)
    card.locator(".hangup").click()
    expect(console.locator(".call-card")).to_have_count(0)  # an ended call leaves at once

    _simulate(console, "08033334444")
    ringing = console.locator('.call-card[data-status="ringing"]')
    expect(ringing.locator(".flag-warning")).to_contain_text("大声で30分以上同じ要求を繰り返す")
    expect(ringing.locator(".badge.repeat")).to_contain_text("過去1件")
    if screenshots:
        console.screenshot(path=str(screenshots / "console-flagged.png"), full_page=True)
    context.close()


def test_the_called_companys_policy_and_notes_pop_up_with_the_call(
    browser: Any, site: Site, screenshots: Path | None
) -> None:
    expect = _expect()
    with Session(site.engine) as session:
        sakura = get_company(session=session, slug="sakura-dental")
        operator = session.exec(select(User).where(User.email == site.operator_email)).one()
        assert sakura is not None
        actor = Actor(name=operator.email, user_id=operator.id)
        set_caller_policy(
            session=session,
            company_id=sakura.id,
            phone="+819055556666",
            text="折り返しはいたしません。責任者に代わる",
            time_limit_minutes=3,
            actor=actor,
        )
        add_caller_note(
            session=session,
            company_id=sakura.id,
            phone="+819055556666",
            text="院長の知人。丁寧に対応",
            actor=actor,
        )
        session.commit()
    context, console = _open_console(browser, site)
    _simulate(console, "090-5555-6666")
    card = console.locator(".call-card").first
    policy = card.locator(".caller-policy")
    expect(policy.locator(".policy-text")).to_have_text("折り返しはいたしません。責任者に代わる")
    expect(policy.locator(".policy-limit")).to_contain_text("3")
    expect(card.locator(".caller-notes")).to_contain_text("院長の知人。丁寧に対応")

    console.keyboard.press("Alt+a")
    expect(card).to_have_attribute("data-status", "active")
    # Once answered, the limit counts down the minutes and seconds left.
    expect(policy.locator(".policy-limit")).to_have_text(re.compile(r"2:5\d"))
    if screenshots:
        console.screenshot(path=str(screenshots / "console-caller-policy.png"), full_page=True)
    context.close()
