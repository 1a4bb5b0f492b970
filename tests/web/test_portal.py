"""The client portal: one company's memos only, readable, confirmable, searchable, exportable."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import service as audit
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.models import Memo
from tests.api.test_memos import BAD_CURSORS
from tests.dispatch.conftest import take_memo
from tests.factories import csrf_from, login, make_client_user, make_company, make_user
from tests.people import sign_in

PASSWORD = "correct horse battery"


@pytest.fixture
def other_company(session: Session) -> Company:
    return make_company(session, slug="kaede-law", name="かえで法律事務所", hours=None)


@pytest.fixture
def signed_in(client: TestClient, session: Session, company: Company) -> User:
    """A user of sakura-dental, signed in."""
    user = make_client_user(
        session, company_id=company.id, email="uketsuke@example.jp", display_name="受付 鈴木"
    )
    sign_in(client, user)
    return user


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()
    return found


def memo_links(html: str) -> list[str]:
    return re.findall(r'href="/portal/memos/([0-9a-f]{32})"', html)


def test_the_list_shows_only_the_company_memos_newest_first(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    other_company: Company,
    signed_in: User,
    clock: ManualClock,
) -> None:
    older = take_memo(session, operator, subject="古い方の件")
    clock.advance(timedelta(minutes=5))
    newer = take_memo(session, operator, subject="新しい方の件", urgency="urgent")
    theirs = take_memo(session, operator, client="kaede-law", subject="他社の件")

    page = client.get("/portal")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert memo_links(page.text) == [newer.id, older.id]
    assert "他社の件" not in page.text and theirs.id not in page.text
    assert "2026年1月5日(月) 09:05" in page.text
    assert '<li class="memo-item waiting">' in page.text
    assert '<span class="badge urgent">至急</span>' in page.text
    assert "山田 太郎" in page.text


def test_search_status_filter_and_paging(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    signed_in: User,
    clock: ManualClock,
) -> None:
    memos = []
    for number in range(33):
        memos.append(take_memo(session, operator, subject=f"件名{number:02d}"))
        clock.advance(timedelta(seconds=30))
    special = take_memo(session, operator, subject="駐車場の件", caller={"name": "高橋 花子"})
    client.post(f"/api/v1/memos/{special.id}/ack", headers={"X-CSRF-Token": "x"})

    assert memo_links(client.get("/portal", params={"q": "高橋"}).text) == [special.id]
    assert memo_links(client.get("/portal", params={"q": "存在しない"}).text) == []

    first = client.get("/portal")
    ids = memo_links(first.text)
    assert len(ids) == 30 and ids[0] == special.id
    next_url = re.search(r'href="(/portal\?cursor=[^"]+)"', first.text)
    assert next_url is not None
    second = client.get(next_url.group(1).replace("&amp;", "&"))
    assert memo_links(second.text) == [memo.id for memo in reversed(memos[:4])]
    assert client.get("/portal", params={"cursor": "not-a-cursor"}).status_code == 400
    for cursor in BAD_CURSORS:
        refused = client.get("/portal", params={"cursor": cursor})
        assert refused.status_code == 400, cursor
        assert "ページ送りの情報が正しくありません。" in refused.text

    waiting = client.get("/portal", params={"status": "relaying"})
    assert special.id in memo_links(waiting.text)  # the CSRF-less POST above changed nothing


def test_the_detail_page_confirms_with_one_button(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    signed_in: User,
) -> None:
    memo = take_memo(session, operator, fields={"patient_no": "A-77"})

    page = client.get(f"/portal/memos/{memo.id}")

    assert page.status_code == 200
    assert '<a class="tel" href="tel:+819011112222">090-1111-2222</a>' in page.text
    assert "<dt>診察券番号</dt><dd>A-77</dd>" in page.text
    assert f'action="/portal/memos/{memo.id}/ack"' in page.text

    refused = client.post(f"/portal/memos/{memo.id}/ack", data={})
    assert refused.status_code == 403
    assert fresh(session, memo).acknowledged_at is None

    done = client.post(
        f"/portal/memos/{memo.id}/ack",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )

    assert done.status_code == 303
    assert done.headers["location"] == f"/portal/memos/{memo.id}?done=first"
    acked = fresh(session, memo)
    assert (acked.acknowledged_by, acked.acknowledged_via) == ("受付 鈴木", "portal")
    shown = client.get(done.headers["location"])
    assert "確認しました。" in shown.text
    assert "受付 鈴木 · ポータル" in shown.text
    assert "内容を確認しました <span" not in shown.text

    again = client.post(
        f"/portal/memos/{memo.id}/ack",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert again.headers["location"].endswith("?done=already")
    assert fresh(session, memo).acknowledged_at == acked.acknowledged_at


def test_every_portal_route_refuses_another_company_memos(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    other_company: Company,
    signed_in: User,
) -> None:
    own = take_memo(session, operator, subject="自社の件")
    theirs = take_memo(session, operator, client="kaede-law", subject="他社の秘密")
    token = csrf_from(client.get(f"/portal/memos/{own.id}").text)

    answers = [
        client.get(f"/portal/memos/{theirs.id}"),
        client.post(f"/portal/memos/{theirs.id}/ack", data={"csrf_token": token}),
        client.post(f"/api/v1/memos/{theirs.id}/ack", headers={"X-CSRF-Token": token}),
        client.get(f"/api/v1/memos/{theirs.id}"),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404, 404]
    assert all("他社の秘密" not in answer.text for answer in answers)
    assert fresh(session, theirs).acknowledged_at is None
    listing = client.get("/portal", params={"q": "秘密"})
    assert memo_links(listing.text) == []
    export = client.get("/portal/export.csv").content.decode("utf-8-sig")
    assert "他社の秘密" not in export and "自社の件" in export


@pytest.mark.parametrize("role", [Role.operator, Role.admin])
def test_staff_are_not_let_into_the_portal(
    client: TestClient, session: Session, operator: User, company: Company, role: Role
) -> None:
    memo = take_memo(session, operator)
    make_user(session, email="staff@relay.example", role=role, password=PASSWORD)
    assert login(client, "staff@relay.example", PASSWORD).status_code == 303

    for path in ("/portal", f"/portal/memos/{memo.id}", "/portal/export.csv"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "山田" not in answer.text


def test_signed_out_visitors_are_sent_to_sign_in(
    client: TestClient, session: Session, operator: User, company: Company
) -> None:
    memo = take_memo(session, operator)

    for path in ("/portal", f"/portal/memos/{memo.id}", "/portal/export.csv"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    posted = client.post(f"/portal/memos/{memo.id}/ack", follow_redirects=False)
    assert posted.status_code == 303
    assert fresh(session, memo).acknowledged_at is None


def test_the_csv_opens_right_in_excel_and_holds_every_column(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    signed_in: User,
    clock: ManualClock,
) -> None:
    first = take_memo(
        session,
        operator,
        subject='=HYPERLINK("http://evil.example")',
        body="一行目\n二行目、「引用」, カンマ",
        fields={"patient_no": "12345"},
    )
    clock.advance(timedelta(hours=1))
    take_memo(session, operator, urgency="urgent", subject="至急の件")
    token = csrf_from(client.get(f"/portal/memos/{first.id}").text)
    clock.advance(timedelta(minutes=30))
    client.post(f"/portal/memos/{first.id}/ack", data={"csrf_token": token})

    export = client.get("/portal/export.csv")

    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert export.headers["content-disposition"] == (
        'attachment; filename="relay-sakura-dental-20260105-1030.csv"'
    )
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "受付日時",
        "区分",
        "緊急度",
        "お客様名",
        "お客様電話番号",
        "件名",
        "内容",
        "状態",
        "確認日時",
        "確認者",
        "確認方法",
        "お客様会社名",
        "診察券番号",
    ]
    assert rows[1] == [
        "2026-01-05 10:00",
        "苦情",
        "至急",
        "山田 太郎",
        "+819011112222",
        "至急の件",
        "本日15時の予約が入っていなかった。至急折り返しを希望。",
        "未確認（送信前）",
        "",
        "",
        "",
        "",
        "",
    ]
    assert rows[2] == [
        "2026-01-05 09:00",
        "苦情",
        "通常",
        "山田 太郎",
        "+819011112222",
        '\'=HYPERLINK("http://evil.example")',  # never run as a formula
        "一行目\n二行目、「引用」, カンマ",
        "確認済み",
        "2026-01-05 10:30",
        "受付 鈴木",
        "ポータル",
        "",
        "12345",
    ]
    assert len(rows) == 3
    # Who took the company's memos away, and how many, is on the audit trail.
    [entry], _ = audit.list_entries(session=session, action="export")
    assert (entry.target, entry.detail["rows"], entry.detail["format"]) == (
        "company:sakura-dental",
        "2",
        "csv",
    )
    session.commit()


def test_the_client_home_page_links_to_the_portal(
    client: TestClient, company: Company, signed_in: User
) -> None:
    home = client.get("/")

    assert home.status_code == 200
    assert 'href="/portal"' in home.text


def test_an_english_company_portal_is_english_only(
    client: TestClient, session: Session, operator: User
) -> None:
    from tests.i18n.japanese import japanese_in
    from tests.web.test_ack_pages import CALLER_WORDS, _maple_law

    _maple_law(session)
    memo = take_memo(session, operator, client="maple-law", **CALLER_WORDS)
    maple = session.exec(select(Company).where(Company.slug == "maple-law")).one()
    make_client_user(session, company_id=maple.id, email="desk@maple.example", display_name="Ann")
    session.commit()
    assert login(client, "desk@maple.example", PASSWORD).status_code == 303

    pages = [
        client.get("/portal", headers={"Accept-Language": "ja"}),
        client.get(f"/portal/memos/{memo.id}", headers={"Accept-Language": "ja"}),
        client.get("/portal/memos/" + "0" * 32, headers={"Accept-Language": "ja"}),
    ]
    export = client.get("/portal/export.csv")

    assert [page.status_code for page in pages] == [200, 200, 404]
    for page in pages:
        assert japanese_in(page.text) == []
    assert "Not confirmed (" in pages[0].text and ">Client<" in pages[0].text
    assert "Message not found" in pages[2].text
    header = export.content.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Received at,Category,Urgency,Caller name")
    assert japanese_in(export.content.decode("utf-8-sig")) == []


# --- the page's language: the user's own, else the company's --------------------------------


def test_a_client_user_who_chose_english_reads_a_japanese_company_portal_in_english(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    signed_in: User,
    clock: ManualClock,
) -> None:
    from service.auth import service as auth
    from tests.i18n.japanese import japanese_in
    from tests.web.test_ack_pages import CALLER_WORDS

    auth.set_user_locale(session=session, user=signed_in, locale="en")
    session.commit()
    memo = take_memo(session, operator, fields={"patient_no": "A-77"}, **CALLER_WORDS)
    clock.advance(timedelta(minutes=30))
    ja = {"Accept-Language": "ja"}
    token = csrf_from(client.get(f"/portal/memos/{memo.id}", headers=ja).text)
    client.post(f"/portal/memos/{memo.id}/ack", data={"csrf_token": token}, headers=ja)

    pages = [
        client.get("/", headers=ja),
        client.get("/portal?status=acknowledged", headers=ja),
        client.get(f"/portal/memos/{memo.id}?done=first", headers=ja),
        client.get("/portal/memos/" + "0" * 32, headers=ja),
        client.get("/portal?cursor=nonsense", headers=ja),
    ]
    export = client.get("/portal/export.csv", headers=ja)

    # Only the company's own words stay Japanese: its name, its field's label, its user's name.
    own_words = (company.name, "診察券番号", signed_in.display_name)
    assert [page.status_code for page in pages] == [200, 200, 200, 404, 400]
    for page in pages:
        assert '<html lang="en">' in page.text
        assert japanese_in(page.text, allowed=own_words) == []
    listing, detail = pages[1].text, pages[2].text
    assert "Mon, Jan 5, 2026 09:00" in listing
    assert '<option value="acknowledged" selected>Confirmed</option>' in listing
    assert "Export CSV" in listing
    assert "Confirmed. Thank you." in detail
    assert "<dt>診察券番号</dt><dd>A-77</dd>" in detail
    assert "Mon, Jan 5, 2026 09:30 · 受付 鈴木 · portal" in detail
    assert "Message not found" in pages[3].text
    text = export.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Received at", "Category", "Urgency", "Caller name"]
    assert rows[0][-1] == "診察券番号"
    assert rows[1][1:3] == ["Complaint", "Normal"]
    assert rows[1][7:11] == ["Confirmed", "2026-01-05 09:30", "受付 鈴木", "portal"]
    assert japanese_in(text, allowed=own_words) == []


def test_without_a_setting_the_portal_follows_the_company_not_the_browser(
    client: TestClient, session: Session, operator: User, company: Company, signed_in: User
) -> None:
    memo = take_memo(session, operator)
    en = {"Accept-Language": "en"}

    pages = [
        client.get("/", headers=en),
        client.get("/portal", headers=en),
        client.get(f"/portal/memos/{memo.id}", headers=en),
    ]
    export = client.get("/portal/export.csv", headers=en)

    for page in pages:
        assert '<html lang="ja">' in page.text
        assert ">Change language</button>" not in page.text
    assert "2026年1月5日(月) 09:00" in pages[1].text
    assert export.content.decode("utf-8-sig").startswith("受付日時,区分,緊急度")
