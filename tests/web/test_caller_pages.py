"""/callers/{phone} for staff and /portal/callers/{phone} for a company: one caller number's calls
and memos (the bureau's flags for staff only), found by the number in any form, with exports."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from tests.factories import make_client_user
from tests.memos.test_caller_record import RECORDING, CallerHistory, make_caller_history
from tests.people import sign_in
from tests.test_route_walk import STAFF_ROUTES, documented

FORMS = ("090-1111-2222", "09011112222", "+819011112222", "０９０－１１１１－２２２２")
JA = {"Accept-Language": "ja"}


@pytest.fixture
def history(
    session: Session, clock: ManualClock, operator: User, admin: User, company: Company
) -> CallerHistory:
    return make_caller_history(session, clock, operator, admin, company)


def memo_ids(html: str) -> list[str]:
    return re.findall(r'data-memo-id="([0-9a-f]{32})"', html)


def call_ids(html: str) -> list[str]:
    return re.findall(r'data-call-id="([0-9a-f]{32})"', html)


def test_staff_see_every_companys_calls_memos_and_the_flags_with_who_set_them(
    client: TestClient, history: CallerHistory, operator: User, admin: User
) -> None:
    sign_in(client, operator)

    page = client.get("/callers/090-1111-2222", headers=JA)

    assert page.status_code == 200
    html = page.text
    assert memo_ids(html) == [
        history.sakura_later_memo.id,
        history.kaede_memo.id,
        history.sakura_memo.id,
    ]
    assert f'href="/memos/{history.kaede_memo.id}"' in html
    assert call_ids(html) == [history.kaede_call.id, history.sakura_call.id]
    assert "かえで法律事務所" in html and "さくら歯科クリニック" in html
    assert f'href="{RECORDING}"' in html
    assert "大声で威圧" in html and "毎日同じ時刻に" in html
    assert f'data-flag-id="{history.flag_id}"' in html
    assert operator.display_name in html and admin.display_name in html  # set, and lifted
    assert "カスハラ・嫌がらせ" in html
    assert history.other_memo.id not in html
    assert 'href="/api/v1/callers/%2B819011112222/export?format=csv"' in html
    assert 'href="/console"' in html  # an operator's way back


@pytest.mark.parametrize("written", FORMS)
def test_the_number_may_be_written_in_any_form(
    client: TestClient, history: CallerHistory, operator: User, written: str
) -> None:
    sign_in(client, operator)

    page = client.get(f"/callers/{written}")

    assert page.status_code == 200
    assert len(memo_ids(page.text)) == 3
    assert "<h1>090-1111-2222" in page.text


def test_a_non_number_is_refused_with_a_page(client: TestClient, operator: User) -> None:
    sign_in(client, operator)

    page = client.get("/callers/12", headers={"Accept": "text/html", **JA})

    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")


def test_the_staff_page_refuses_client_users_and_sends_the_signed_out_to_sign_in(
    client: TestClient, history: CallerHistory, client_user: User
) -> None:
    signed_out = client.get("/callers/090-1111-2222", follow_redirects=False)
    sign_in(client, client_user)
    refused = client.get("/callers/090-1111-2222")

    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login?next=")
    assert refused.status_code == 403
    assert "大声で威圧" not in refused.text


def test_a_company_sees_only_its_own_calls_and_memos_and_no_flags(
    client: TestClient, session: Session, history: CallerHistory, client_user: User
) -> None:
    sign_in(client, client_user)

    page = client.get("/portal/callers/090-1111-2222", headers=JA)

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert memo_ids(html) == [history.sakura_later_memo.id, history.sakura_memo.id]
    assert f'href="/portal/memos/{history.sakura_memo.id}"' in html
    assert call_ids(html) == [history.sakura_call.id]
    for theirs in (history.kaede_memo.id, history.kaede_call.id, "かえで"):
        assert theirs not in html
    for flag_word in ("大声で威圧", "毎日同じ時刻に", "カスハラ"):
        assert flag_word not in html
    assert 'href="/portal/callers/%2B819011112222/export?format=csv"' in html


def test_the_other_company_sees_only_its_own_for_the_same_number(
    client: TestClient, session: Session, history: CallerHistory
) -> None:
    kaede_user = make_client_user(session, company_id=history.kaede.id, email="k@kaede.example")
    sign_in(client, kaede_user)

    page = client.get("/portal/callers/+819011112222")
    export = client.get("/portal/callers/+819011112222/export", params={"format": "json"})

    assert memo_ids(page.text) == [history.kaede_memo.id]
    assert call_ids(page.text) == [history.kaede_call.id]
    assert "さくら" not in page.text
    body = export.json()
    assert body["client"] == "kaede-law" and body["flags"] is None
    assert [m["id"] for m in body["memos"]] == [history.kaede_memo.id]
    assert [c["id"] for c in body["calls"]] == [history.kaede_call.id]
    assert "さくら" not in export.text and "大声" not in export.text


def test_staff_are_refused_the_portal_caller_page(
    client: TestClient, history: CallerHistory, operator: User
) -> None:
    sign_in(client, operator)

    assert client.get("/portal/callers/090-1111-2222").status_code == 403
    assert client.get("/portal/callers/090-1111-2222/export").status_code == 403


def test_the_portal_export_is_the_companys_own_and_audited(
    client: TestClient, session: Session, history: CallerHistory, client_user: User
) -> None:
    sign_in(client, client_user)

    answer = client.get("/portal/callers/09011112222/export", params={"format": "csv"}, headers=JA)

    assert answer.status_code == 200
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [row[4] for row in rows[1:]] == [
        history.sakura_call.call_sid,
        history.sakura_memo.id,
        history.sakura_later_memo.id,
    ]
    assert "かえで" not in answer.text and "大声" not in answer.text
    entries, _ = audit.list_entries(session=session, action="export")
    assert [(e.actor, e.target, e.company_id, e.detail) for e in entries] == [
        (
            client_user.email,
            "caller:+819011112222",
            history.sakura.id,
            {"format": "csv", "scope": "sakura-dental", "calls": "1", "memos": "2", "flags": "0"},
        )
    ]


def test_memo_pages_link_the_callers_number_to_its_page(
    client: TestClient,
    history: CallerHistory,
    operator: User,
    client_user: User,
) -> None:
    sign_in(client, operator)
    staff_memo = client.get(f"/memos/{history.sakura_later_memo.id}").text
    staff_list = client.get("/memos").text
    sign_in(client, client_user)
    portal_memo = client.get(f"/portal/memos/{history.sakura_later_memo.id}").text

    assert 'class="caller-link" href="/callers/%2B819011112222"' in staff_memo
    assert 'href="/callers/%2B819011112222"' in staff_list
    assert 'class="caller-link" href="/portal/callers/%2B819011112222"' in portal_memo


def test_the_reference_names_the_caller_routes_with_who_may_use_them() -> None:
    assert ("GET", "/callers/{phone}") in STAFF_ROUTES
    assert ("GET", "/api/v1/callers/{phone}/export") in STAFF_ROUTES
    assert ("GET", "/portal/callers/{phone}/export") in documented("client user")


def test_both_pages_say_how_the_company_handled_a_memo(
    client: TestClient,
    history: CallerHistory,
    operator: User,
    client_user: User,
    client_headers: dict[str, str],
) -> None:
    account = {"response": "院長から謝罪", "cause": "", "result": "", "resolved": False}
    recorded = client.post(
        f"/api/v1/memos/{history.sakura_memo.id}/resolution", json=account, headers=client_headers
    )
    assert recorded.status_code == 200, recorded.text

    sign_in(client, client_user)
    portal = client.get("/portal/callers/090-1111-2222", headers=JA).text
    sign_in(client, operator)
    staff = client.get("/callers/090-1111-2222", headers=JA).text

    for html in (portal, staff):
        assert html.count('<p class="handled">') == 1
        assert "院長から謝罪" in html and client_user.display_name in html
