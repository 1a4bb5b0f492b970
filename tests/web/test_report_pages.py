"""/admin/reports for staff (a company or the whole bureau) and /portal/reports for a client
company's own figures, without the bureau's flags; each chart's numbers as CSV."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import User
from service.calls import service as calls
from service.clock import ManualClock
from service.companies.models import Company
from tests.dispatch.conftest import take_memo
from tests.factories import make_company
from tests.people import sign_in

CALLER = "+819011112222"
OTHER_CALLER = "+818012345678"
JA = {"Accept-Language": "ja", "Accept": "text/html"}
EN = {"Accept-Language": "en", "Accept": "text/html"}
JANUARY = {"period": "month", "start": "2026-01-01"}


@dataclass(frozen=True)
class Office:
    sakura: Company
    kaede: Company


def _call(session: Session, company: Company, sid: str, number: str) -> None:
    calls.record_inbound_call(
        session=session,
        company=company,
        call_sid=sid,
        from_number=number,
        to_number=company.config["phone_numbers"][0],
    )
    session.commit()


@pytest.fixture
def office(session: Session, clock: ManualClock, operator: User, company: Company) -> Office:
    """January 2026: 山田 called さくら歯科 twice (a complaint, then an inquiry; the bureau flags
    the number); かえで法律事務所 had one call and one memo from someone else."""
    kaede = make_company(
        session,
        slug="kaede-law",
        name="かえで法律事務所",
        hours=None,
        phone_numbers=["+81358204182"],
    )
    _call(session, company, "CA" + "1" * 32, CALLER)
    take_memo(session, operator, subject="予約時間の行き違い")
    clock.advance(timedelta(hours=2))
    _call(session, company, "CA" + "2" * 32, CALLER)
    take_memo(session, operator, category="inquiry", subject="駐車場について")
    clock.advance(timedelta(hours=1))
    _call(session, kaede, "CA" + "3" * 32, OTHER_CALLER)
    take_memo(
        session,
        operator,
        client="kaede-law",
        category="inquiry",
        caller={"name": "別人", "phone": "080-1234-5678"},
        subject="かえでの相談の件",
    )
    calls.flag_caller(
        session=session, phone=CALLER, kind="repeat", note="毎日同じ時刻に", flagged_by=operator.id
    )
    session.commit()
    return Office(sakura=company, kaede=kaede)


def figure(html: str, name: str) -> str:
    found = re.search(
        rf'data-figure="{name}">\s*<dt>[^<]*</dt>\s*<dd><span class="value">([^<]*)</span>', html
    )
    assert found, name
    return found.group(1)


def inline_svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", html, re.S)]


def nonce_of(answer: object) -> str:
    policy = answer.headers["content-security-policy"]  # type: ignore[attr-defined]
    found = re.search(r"'nonce-([^']+)'", policy)
    assert found
    return found.group(1)


def test_staff_see_a_companys_month_with_its_charts_and_callers(
    client: TestClient, office: Office, operator: User
) -> None:
    sign_in(client, operator)

    page = client.get("/admin/reports", params={**JANUARY, "company": "sakura-dental"}, headers=JA)

    assert page.status_code == 200, page.text
    html = page.text
    assert "2026年1月" in html
    assert "さくら歯科クリニック" in html
    assert figure(html, "calls") == "2"
    assert figure(html, "memos") == "2"
    assert figure(html, "complaints") == "1"
    assert 'href="/callers/%2B819011112222"' in html
    assert "flagged-callers" in html
    assert html.count('<td><a href="/callers/%2B819011112222">090-1111-2222</a></td>') == 2
    assert (
        'href="/admin/reports?period=month&amp;start=2025-12-01&amp;company=sakura-dental"' in html
    )
    assert (
        'href="/admin/reports?period=month&amp;start=2026-02-01&amp;company=sakura-dental"' in html
    )
    assert 'href="/console"' in html and 'href="/admin/reports" aria-current="page"' in html
    assert html.count("data-chart=") == 5
    svgs = inline_svgs(html)
    # Nothing was confirmed nor failed: those two charts say so in words.
    assert [svg.get("class") for svg in svgs] == [
        "pygal-chart chart-daily",
        "pygal-chart chart-categories",
        "pygal-chart chart-hours",
    ]
    assert html.count('class="muted no-data"') == 2
    nonce = nonce_of(page)
    for svg in svgs:
        assert all(
            style.get("nonce") == nonce for style in svg.iter("{http://www.w3.org/2000/svg}style")
        )
    assert re.findall(r'<script(?! type="application/json")', html) == []  # only the page's words
    assert page.headers["cache-control"] == "no-store"


def test_the_bureau_wide_report_counts_every_company(
    client: TestClient, office: Office, admin: User
) -> None:
    sign_in(client, admin)

    page = client.get("/admin/reports", params=JANUARY, headers=JA)

    assert page.status_code == 200
    assert figure(page.text, "calls") == "3"
    assert figure(page.text, "memos") == "3"
    assert '<option value="kaede-law">かえで法律事務所</option>' in page.text
    assert 'href="/admin/reports" aria-current="page"' in page.text  # the admin's navigation


def test_a_day_and_a_week_are_named_and_stepped_through(
    client: TestClient, office: Office, operator: User
) -> None:
    sign_in(client, operator)

    week = client.get(
        "/admin/reports", params={"period": "week", "start": "2026-01-07"}, headers=EN
    )
    day = client.get("/admin/reports", params={"period": "day", "start": "2026-01-05"}, headers=EN)

    assert week.status_code == 200 and day.status_code == 200
    assert "Jan 5" in week.text and "11, 2026" in week.text
    assert 'start=2025-12-29"' in week.text and 'start=2026-01-12"' in week.text
    assert figure(day.text, "calls") == "3"
    assert "Mon, Jan 5, 2026" in day.text


def test_without_a_date_the_page_shows_the_period_holding_today(
    client: TestClient, office: Office, operator: User
) -> None:
    sign_in(client, operator)

    page = client.get("/admin/reports", headers=JA)

    assert page.status_code == 200
    assert "2026年1月" in page.text and figure(page.text, "memos") == "3"


def test_a_client_user_sees_their_own_company_without_the_bureaus_flags(
    client: TestClient, office: Office, client_user: User
) -> None:
    sign_in(client, client_user)

    page = client.get("/portal/reports", params={**JANUARY, "company": "kaede-law"}, headers=JA)

    assert page.status_code == 200, page.text
    html = page.text
    assert figure(html, "calls") == "2"
    assert figure(html, "memos") == "2"
    assert "かえで" not in html
    assert 'href="/portal/callers/%2B819011112222"' in html
    assert 'href="/callers/' not in html
    assert "flagged-callers" not in html and "badge flag" not in html
    assert "毎日同じ時刻に" not in html
    assert len(inline_svgs(html)) == 3
    assert page.headers["cache-control"] == "no-store"


def test_the_portal_list_links_to_the_reports(
    client: TestClient, office: Office, client_user: User
) -> None:
    sign_in(client, client_user)

    assert 'href="/portal/reports"' in client.get("/portal").text


def test_signed_out_readers_are_sent_to_sign_in(client: TestClient) -> None:
    for path in ("/admin/reports", "/portal/reports", "/portal/reports/chart/daily.csv"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login"), path


def test_each_side_refuses_the_others_users(
    client: TestClient, office: Office, client_user: User, operator: User
) -> None:
    sign_in(client, client_user)
    assert client.get("/admin/reports", headers=JA).status_code == 403
    assert client.get("/admin/reports/chart/daily.csv").status_code == 403
    client.cookies.clear()
    sign_in(client, operator)
    assert client.get("/portal/reports", headers=JA).status_code == 403
    assert client.get("/portal/reports/chart/daily.csv").status_code == 403


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"period": "year"}, 422, "period"),
        ({"start": "2026-13-01"}, 422, "start"),
        ({"start": "0001-01-01"}, 400, "start"),
        ({"start": "9999-12-31"}, 400, "start"),
        ({"company": "nobody"}, 404, "company"),
        ({"company": "x" * 65}, 422, "company"),
    ],
)
def test_bad_parameters_are_refused_in_the_one_shape(
    client: TestClient,
    office: Office,
    operator: User,
    params: dict[str, str],
    status: int,
    field: str,
) -> None:
    sign_in(client, operator)

    answer = client.get("/admin/reports/chart/daily.csv", params=params)
    page = client.get("/admin/reports", params=params, headers=JA)

    assert answer.status_code == status, answer.text
    assert answer.json()["field"].endswith(field)
    assert page.status_code == status


def test_an_unknown_chart_is_refused(client: TestClient, office: Office, operator: User) -> None:
    sign_in(client, operator)

    answer = client.get("/admin/reports/chart/pie.csv")

    assert answer.status_code == 422
    assert answer.json()["code"] == "not_a_choice"


def csv_rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_a_charts_csv_holds_the_figures_the_page_shows(
    client: TestClient, office: Office, operator: User, client_user: User
) -> None:
    sign_in(client, operator)

    daily = client.get(
        "/admin/reports/chart/daily.csv",
        params={**JANUARY, "company": "sakura-dental"},
        headers={"Accept-Language": "en"},
    )
    categories = client.get(
        "/admin/reports/chart/categories.csv", params=JANUARY, headers={"Accept-Language": "en"}
    )

    assert daily.status_code == 200
    assert daily.headers["content-type"].startswith("text/csv")
    assert (
        "relay-report-sakura-dental-month-2026-01-01-daily.csv"
        in (daily.headers["content-disposition"])
    )
    days = csv_rows(daily.text)
    assert days[0] == ["Day", "Calls", "Messages taken", "Complaints"]
    assert len(days) == 32
    assert ["2026-01-05", "2", "2", "1"] in days
    assert sum(int(row[1]) for row in days[1:]) == 2
    counts = {row[1]: row[2] for row in csv_rows(categories.text)[1:]}
    assert counts["complaint"] == "1" and counts["inquiry"] == "2"

    client.cookies.clear()
    sign_in(client, client_user)
    own = client.get("/portal/reports/chart/daily.csv", params={**JANUARY, "company": "kaede-law"})
    assert own.status_code == 200
    assert sum(int(row[1]) for row in csv_rows(own.text)[1:]) == 2
