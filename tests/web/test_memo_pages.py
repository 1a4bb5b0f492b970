"""/memos and /memos/{id}: the staff's memo browser, and one memo with its whole trail."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.channels import Channel
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch.delivery_queue import QueuePolicy
from service.dispatch.dispatcher import Dispatcher
from service.dispatch.models import Delivery, DeliveryReason, DeliveryStatus
from service.escalation.service import fire_due
from service.memos.models import Memo
from service.providers.registry import build_providers
from service.settings import Settings
from tests.chat import destination, make_chat_company
from tests.dispatch.conftest import take_memo
from tests.factories import make_english_company
from tests.people import sign_in

ZONE_TOKYO = ZoneInfo("Asia/Tokyo")
ZONE_NEW_YORK = ZoneInfo("America/New_York")


def memo_links(html: str) -> list[str]:
    return re.findall(r'href="/memos/([0-9a-f]{32})"', html)


@pytest.fixture
def two_memos(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> tuple[Memo, Memo]:
    """A complaint from 080-9999-0001, then an hour later an inquiry about parking."""
    first = take_memo(session, operator, caller={"name": "山田 太郎", "phone": "080-9999-0001"})
    clock.advance(timedelta(hours=1))
    second = take_memo(
        session, operator, category="inquiry", subject="駐車場について", body="場所を知りたい"
    )
    return first, second


def test_signed_out_readers_are_sent_to_sign_in(
    client: TestClient, two_memos: tuple[Memo, Memo]
) -> None:
    for path in ("/memos", f"/memos/{two_memos[0].id}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


def test_client_users_are_refused_both_pages(
    client: TestClient, client_user: User, two_memos: tuple[Memo, Memo]
) -> None:
    sign_in(client, client_user)

    for path in ("/memos", f"/memos/{two_memos[0].id}", "/memos?q=山田"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "山田" not in response.text and "駐車場" not in response.text


def test_the_search_finds_by_number_words_and_filters(
    client: TestClient, operator: User, two_memos: tuple[Memo, Memo]
) -> None:
    first, second = two_memos
    sign_in(client, operator)

    everything = client.get("/memos")
    assert everything.status_code == 200
    assert memo_links(everything.text) == [second.id, first.id]
    assert memo_links(client.get("/memos", params={"q": "08099990001"}).text) == [first.id]
    assert memo_links(client.get("/memos", params={"q": "駐車場"}).text) == [second.id]
    assert memo_links(client.get("/memos", params={"category": "inquiry"}).text) == [second.id]
    assert memo_links(client.get("/memos", params={"client": "nobody"}).text) == []
    # The form shows what was searched, so the URL can be shared and read back.
    page = client.get("/memos", params={"q": "駐車場", "status": "relaying"}).text
    assert 'value="駐車場"' in page
    assert '<option value="relaying" selected>' in page


def test_dates_are_days_in_the_companys_zone_and_a_bad_one_is_told_beside_its_field(
    client: TestClient, operator: User, two_memos: tuple[Memo, Memo], clock: ManualClock
) -> None:
    sign_in(client, operator)
    day = clock.now().astimezone(ZONE_TOKYO).date()

    same_day = client.get(
        "/memos", params={"client": "sakura-dental", "since": str(day), "until": str(day)}
    )
    assert set(memo_links(same_day.text)) == set(memo.id for memo in two_memos)
    before = client.get("/memos", params={"until": str(day - timedelta(days=1))})
    assert memo_links(before.text) == []

    bad = client.get("/memos", params={"since": "yesterday"})
    assert bad.status_code == 200
    assert 'aria-invalid="true" aria-describedby="memo-since-error"' in bad.text
    assert 'id="memo-since-error"' in bad.text
    # A real date whose day lies past the calendar's end once in UTC is told the same way.
    far = client.get("/memos", params={"since": "0001-01-01", "until": "9999-12-31"})
    assert far.status_code == 200
    assert 'id="memo-until-error"' in far.text


def test_paging_keeps_the_search(
    client: TestClient, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    for index in range(32):
        clock.advance(timedelta(minutes=1))
        take_memo(session, operator, subject=f"水漏れ {index}")
    take_memo(session, operator, subject="別件")
    sign_in(client, operator)

    first = client.get("/memos", params={"q": "水漏れ"}).text
    [older] = re.findall(r'href="(/memos\?[^"]*cursor=[^"]*)"', first)
    second = client.get(older.replace("&amp;", "&")).text

    assert len(memo_links(first)) == 30
    assert len(memo_links(second)) == 2
    assert not set(memo_links(first)) & set(memo_links(second))


def test_a_memo_page_shows_the_memo_and_its_trail(
    client: TestClient,
    session: Session,
    admin: User,
    operator: User,
    two_memos: tuple[Memo, Memo],
    clock: ManualClock,
) -> None:
    first = two_memos[0]
    delivery = session.exec(select(Delivery).where(Delivery.memo_id == first.id)).first()
    assert delivery is not None
    delivery.status = DeliveryStatus.failed
    delivery.attempts = 3
    delivery.error = "550 mailbox unavailable"
    delivery.error_code = "550"
    session.add(delivery)
    session.commit()
    clock.advance(timedelta(hours=1))
    while fire_due(session=session, worker="w"):
        session.commit()
    session.commit()
    sign_in(client, admin)

    page = client.get(f"/memos/{first.id}", headers={"Accept-Language": "ja"})

    assert page.status_code == 200
    html = page.text
    assert "山田 太郎" in html and "080-9999-0001" in html
    assert "550 mailbox unavailable" in html and "<code>550</code>" in html
    assert 'data-delivery-id="' + delivery.id + '"' in html
    assert "佐藤 院長" in html  # the escalation's recipient and the callback's contact
    assert 'data-task-id="' in html
    assert 'aria-current="page">メモ</a>' in html or 'href="/memos" aria-current="page"' in html


def test_times_are_in_the_companys_zone_and_words_in_the_readers_language(
    client: TestClient, session: Session, operator: User, clock: ManualClock
) -> None:
    make_english_company(session)
    caller = {"name": "Ken Ito", "phone": "202-555-0143"}
    memo = take_memo(session, operator, client="maple-law", caller=caller)
    sign_in(client, operator)

    japanese = client.get(f"/memos/{memo.id}", headers={"Accept-Language": "ja"}).text
    local = clock.now().astimezone(ZONE_NEW_YORK)

    assert f"{local:%H:%M}" in japanese
    assert "America/New_York" in japanese
    assert "苦情" in japanese  # the category, in the reader's language
    # Operators get a way back to the console instead of the admin's navigation.
    assert 'href="/console"' in japanese and 'href="/admin/users"' not in japanese


def test_an_unknown_memo_is_a_404_page(client: TestClient, operator: User) -> None:
    sign_in(client, operator)

    response = client.get("/memos/" + "0" * 32, headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


async def test_the_trail_names_chat_destinations_their_updates_and_the_path_that_won(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    clock: ManualClock,
    admin: User,
    operator: User,
) -> None:
    make_chat_company(session, "slack", extra=[destination("chatwork", name="サポート室")])
    memo = take_memo(session, operator)
    dispatcher = Dispatcher(
        engine=engine,
        settings=settings,
        providers=build_providers(settings=settings, engine=engine),
        policy=QueuePolicy(per_destination_per_minute=10),
        name="test-memo-page-dispatcher",
    )
    await dispatcher.run_once()
    clock.advance(timedelta(minutes=3))
    acknowledge(session=session, memo_id=memo.id, by="佐藤", via=AckVia.chatwork)
    session.commit()
    await dispatcher.run_once()
    update = session.exec(
        select(Delivery).where(
            Delivery.memo_id == memo.id,
            Delivery.channel == Channel.chatwork,
            Delivery.reason == DeliveryReason.acknowledged,
        )
    ).one()
    session.commit()
    sign_in(client, admin)

    page = client.get(f"/memos/{memo.id}", headers={"Accept-Language": "en"}).text
    row = page[page.index(f'data-delivery-id="{update.id}"') :]
    row = row[: row.index("</tr>")]

    assert "サポート室" in row and "123456789" in row
    assert ">Chatwork</td>" in row
    assert "Update: marked acknowledged" in row
    assert "Updates message outbox-" in row
    assert "Confirmed by 佐藤 (Chatwork reply)" in " ".join(page.split())
