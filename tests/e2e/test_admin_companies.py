"""The admin's company pages in a real browser: a company made from nothing in the forms takes
its first memo on the console, and a reordered script is restored from its versions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from service.auth.models import Role
from service.auth.service import create_user
from service.companies.service import get_company, sync_path
from service.db import make_engine
from service.models import metadata
from tests.e2e.conftest import PASSWORD, REPO
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
DESK = {"width": 1280, "height": 900}


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


@dataclass(frozen=True)
class Bureau:
    """A running Relay with an admin and an operator, and the companies it was given."""

    base_url: str
    engine: Engine


def _serve(tmp_path: Path, *, companies: list[str]) -> Iterator[Bureau]:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    with Session(engine) as session:
        for name in companies:
            sync_path(session=session, path=REPO / "clients" / name, changed_by="e2e")
        for email, role in (
            ("kanri@relay.example", Role.admin),
            ("suzuki@relay.example", Role.operator),
        ):
            create_user(session=session, email=email, role=role, password=PASSWORD)
        session.commit()
    env = {"RELAY_DATABASE_URL": url, "RELAY_SECRET_KEY": "e2e-secret-key-0123456789"}
    with live_server(env=env, cwd=tmp_path) as base_url:
        yield Bureau(base_url, engine)
    engine.dispose()


@pytest.fixture
def empty_bureau(tmp_path: Path) -> Iterator[Bureau]:
    """No company at all: the admin makes the first one."""
    yield from _serve(tmp_path, companies=[])


@pytest.fixture
def sakura_bureau(tmp_path: Path) -> Iterator[Bureau]:
    """さくら歯科クリニック as the example file has it (version 1)."""
    yield from _serve(tmp_path, companies=["sakura-dental.yaml"])


def _signed_in(
    browser: Any, bureau: Bureau, email: str, *, viewport: dict[str, int], path: str
) -> tuple[Any, Any]:
    context = browser.new_context(
        base_url=bureau.base_url, viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(path)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(f"**{path}")
    return context, page


def _labelled(page: Any, label: str) -> Any:
    return page.get_by_label(label, exact=True)


def test_a_company_made_in_the_forms_takes_a_memo_that_is_relayed(
    browser: Any, empty_bureau: Bureau, screenshots: Path | None
) -> None:
    expect = _expect()
    admin_context, admin = _signed_in(
        browser, empty_bureau, "kanri@relay.example", viewport=PHONE, path="/admin/companies"
    )
    expect(admin.locator("#company-count")).to_contain_text("0")
    admin.get_by_role("link", name="新しい会社").click()
    admin.wait_for_url("**/admin/companies/new")

    admin.locator("#cf-slug").fill("aozora-tax")
    admin.locator("#cf-name").fill("あおぞら税理士事務所")
    admin.locator("#cf-greeting").fill(
        "お電話ありがとうございます。あおぞら税理士事務所でございます。"
    )
    admin.get_by_role("button", name="番号を追加").click()
    expect(admin.locator("#cf-phone_numbers-0")).to_be_focused()
    admin.keyboard.type("+81 3-6457-2210")
    admin.get_by_role("button", name="ステップを追加").first.click()
    admin.locator("#cf-script-0-ask").fill("お名前とご連絡先をお伺いできますか。")
    admin.locator("#cf-script-0-field-add").click()
    admin.locator("#cf-script-0-field-0").select_option("caller.name")
    admin.locator("#cf-contacts-0-key").fill("office")
    admin.locator("#cf-contacts-0-name").fill("事務所")
    admin.locator("#cf-contacts-0-email").fill("office@aozora.example")

    # Saving before the rule names a contact: the refusal sits beside the rule's contacts.
    admin.get_by_role("button", name="保存").click()
    notify = admin.locator("#cf-routing-0-notify")
    expect(notify).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#cf-routing-0-notify-error")).to_be_visible()
    expect(admin.locator("#form-alert")).to_be_visible()
    expect(admin.locator("#cf-routing-0-notify-office")).to_be_focused()
    if screenshots:
        admin.screenshot(path=str(screenshots / "admin-company-refused-phone.png"), full_page=True)
    admin.locator("#cf-routing-0-notify-office").check()
    expect(admin.locator("#cf-routing-0-notify-error")).to_have_count(0)

    admin.get_by_role("button", name="保存").click()
    admin.wait_for_url("**/admin/companies/aozora-tax")
    expect(admin.locator("#save-status")).to_contain_text("1")
    expect(admin.locator("#cf-name")).to_have_value("あおぞら税理士事務所")
    # The page fits a phone: nothing is wider than the screen.
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    with Session(empty_bureau.engine) as session:
        company = get_company(session=session, slug="aozora-tax")
        assert company is not None
        assert company.config["phone_numbers"] == ["+81364572210"]
        assert company.config["script"] == [
            {"ask": "お名前とご連絡先をお伺いできますか。", "field": "caller.name"}
        ]

    # A test send to the new contact: its delivery's trail follows it to the dev outbox.
    admin.locator("#test-contact").select_option("office")
    admin.get_by_role("button", name="テスト送信").click()
    expect(admin.locator("#test-result")).to_contain_text("office@aozora.example")
    expect(admin.locator("#test-trail li")).to_have_attribute("data-status", "sent")

    # The list finds it by the number as it shows it.
    admin.goto("/admin/companies?q=03-6457-2210")
    expect(admin.locator(".company-list > li")).to_have_count(1)
    expect(admin.locator(".company-list .number")).to_have_text("03-6457-2210")

    # An operator, in a browser of their own, takes a memo for it on the console.
    op_context, console = _signed_in(
        browser, empty_bureau, "suzuki@relay.example", viewport=DESK, path="/console"
    )
    expect(console.locator("#live")).to_have_attribute("data-state", "live")
    console.keyboard.press("Alt+n")
    draft = console.locator(".draft")
    draft.locator('[name="client"]').select_option("aozora-tax")
    draft.locator('[name="caller.name"]').fill("山田 太郎")
    draft.locator('[name="caller.phone"]').fill("090-1111-2222")
    draft.locator('[name="category"]').select_option("inquiry")
    draft.locator('[name="subject"]').fill("決算書類の件")
    draft.locator('[name="body"]').fill("決算書類の提出期限について折り返しがほしい。")
    console.keyboard.press("Control+Enter")
    expect(draft.locator(".send-state")).to_have_text("送信済み")

    # Relayed: the memo's email to the new contact is in the dev outbox (beside the test's).
    outbox = op_context.new_page()
    relayed = outbox.locator(
        ".outbox-message", has=outbox.locator(".subject", has_text="決算書類の件")
    )
    for _ in range(30):
        outbox.goto("/dev/outbox")
        if relayed.count():
            break
        outbox.wait_for_timeout(500)
    expect(relayed.locator(".to")).to_have_text("office@aozora.example")
    op_context.close()
    admin_context.close()


def test_a_reordered_script_is_restored_from_its_versions(
    browser: Any, sakura_bureau: Bureau, screenshots: Path | None
) -> None:
    expect = _expect()
    context, page = _signed_in(
        browser,
        sakura_bureau,
        "kanri@relay.example",
        viewport=PHONE,
        path="/admin/companies/sakura-dental",
    )
    # The preview shows what the SMS costs: Japanese text is UCS-2.
    expect(page.locator("#preview-sms-cost")).to_contain_text("UCS-2")
    expect(page.locator("#preview-subject")).not_to_be_empty()
    first = page.locator("#cf-script-0-say, #cf-script-0-ask")
    second = page.locator("#cf-script-1-say, #cf-script-1-ask")
    expect(first).to_be_visible()
    before = [first.input_value(), second.input_value()]

    # Step 2 moves up with its button, and the focus follows it.
    page.locator("#cf-script-1-up").click()
    expect(page.locator("#cf-script-0-down")).to_be_focused()
    expect(first).to_have_value(before[1])
    expect(second).to_have_value(before[0])
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#save-status")).to_contain_text("2")
    if screenshots:
        page.screenshot(path=str(screenshots / "admin-company-phone.png"), full_page=True)

    page.get_by_role("link", name="履歴", exact=True).click()
    page.wait_for_url("**/versions")
    rows = page.locator("#version-rows tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("kanri@relay.example")
    # What version 2 changed: one step taken out of its place and put back one line up.
    page.locator("#version-rows tr[data-version='2'] button.compare").click()
    expect(page.locator("#diff-result del")).to_have_count(1)
    expect(page.locator("#diff-result ins")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#version-rows tr[data-version='1'] button.restore").click()
    expect(rows).to_have_count(3)
    expect(page.locator("#versions-status")).to_contain_text("3")
    if screenshots:
        page.screenshot(path=str(screenshots / "admin-company-versions-phone.png"), full_page=True)

    page.get_by_role("link", name="フォーム", exact=True).click()
    expect(first).to_have_value(before[0])
    expect(second).to_have_value(before[1])
    context.close()


@pytest.fixture
def bureau_of_four(tmp_path: Path) -> Iterator[Bureau]:
    """Every example company of `clients/`."""
    yield from _serve(
        tmp_path,
        companies=[
            "sakura-dental.yaml",
            "northwind-shop.yaml",
            "aoba-property.yaml",
            "michinori-road-service.yaml",
        ],
    )


def test_a_newer_save_and_a_taken_number_are_refused_where_they_are_typed(
    browser: Any, bureau_of_four: Bureau
) -> None:
    expect = _expect()
    context, page = _signed_in(
        browser,
        bureau_of_four,
        "kanri@relay.example",
        viewport=PHONE,
        path="/admin/companies/sakura-dental",
    )
    greeting = page.locator("#cf-greeting")
    expect(greeting).not_to_have_value("")
    greeting.fill("はい、さくら歯科です。")

    # Meanwhile the same company is saved from another tab.
    other = context.new_page()
    other.goto("/admin/companies/sakura-dental")
    other.locator("#cf-name").fill("さくら歯科")
    other.get_by_role("button", name="保存").click()
    expect(other.locator("#save-status")).to_contain_text("2")
    other.close()

    page.get_by_role("button", name="保存").click()
    alert = page.locator("#form-alert")
    expect(alert).to_contain_text("新しいバージョン")
    expect(alert).to_be_focused()
    expect(greeting).to_have_value("はい、さくら歯科です。")  # nothing typed is lost
    expect(alert.get_by_role("link")).to_have_attribute(
        "href", "/admin/companies/sakura-dental/versions"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    alert.get_by_role("button").click()
    expect(page.locator("#cf-name")).to_have_value("さくら歯科")

    # A number of Northwind's, typed in another form, is marked where it was typed.
    number = page.locator("#cf-phone_numbers-1")
    number.fill("+1 415-555-0142")
    page.get_by_role("button", name="保存").click()
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(number).to_be_focused()
    expect(page.locator("#cf-phone_numbers-1-error")).to_contain_text("northwind-shop")
    assert "cf-phone_numbers-1-error" in (number.get_attribute("aria-describedby") or "")
    context.close()


def test_the_preview_shows_each_chat_destinations_card(
    browser: Any, bureau_of_four: Bureau
) -> None:
    expect = _expect()
    context, page = _signed_in(
        browser,
        bureau_of_four,
        "kanri@relay.example",
        viewport=PHONE,
        path="/admin/companies/aoba-property",
    )
    cards = page.locator("#preview-chat article.chat-preview")
    expect(cards).to_have_count(2)
    room = page.locator('#preview-chat article[data-kind="chatwork"]')
    slack = page.locator('#preview-chat article[data-kind="slack"]')
    expect(room).to_contain_text("管理部 連絡室")
    expect(room.locator("pre")).to_contain_text("確認コード")
    expect(room.locator(".button")).to_have_count(0)  # Chatwork has no button
    expect(slack).to_contain_text("#設備当番")
    expect(slack.locator(".button")).to_have_text("確認しました")
    context.close()


def test_a_test_send_reaches_a_chat_room_on_its_own_platform(
    browser: Any, bureau_of_four: Bureau
) -> None:
    expect = _expect()
    context, page = _signed_in(
        browser,
        bureau_of_four,
        "kanri@relay.example",
        viewport=DESK,
        path="/admin/companies/aoba-property",
    )
    choices = page.locator("#test-contact")
    # The company's two chat destinations are offered beside its contacts, with their platform.
    expect(choices.locator("optgroup")).to_have_count(2)
    expect(choices.locator("optgroup").nth(1).locator("option")).to_have_count(2)
    room = choices.locator('option[value="kanri-room"]')
    expect(room).to_contain_text("管理部 連絡室")
    expect(room).to_contain_text("Chatwork")

    choices.select_option("kanri-room")
    # A room is reached on its own platform only.
    expect(page.locator("#test-channel option")).to_have_text(["Chatwork"])
    page.get_by_role("button", name="テスト送信").click()

    expect(page.locator("#test-result")).to_contain_text("管理部 連絡室")
    expect(page.locator("#test-trail li")).to_have_attribute("data-status", "sent")
    context.close()
