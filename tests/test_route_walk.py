"""Every route refuses the roles its reference says may not use it, and a client user never
sees another company's data.

The "who" column of docs/http.md is the expectation: a route for admins answers operators
and client users 403, a route for staff answers client users 403, whatever is asked of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import User
from service.companies.models import Company
from tests.dispatch.conftest import take_memo
from tests.factories import make_company, make_token

DOCS = Path(__file__).resolve().parents[1] / "docs" / "http.md"
ROW = re.compile(r"^\| ((?:`(?:GET|POST|PUT|PATCH|DELETE) /[^`]*`(?:, )?)+) \| ([^|]+) \|", re.M)
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)`")
PARAMETER = re.compile(r"\{[^}]*\}")


def documented(who: str) -> list[tuple[str, str]]:
    """The (method, path) of every route whose reference row says it is for `who`."""
    found = []
    for routes, row_who in ROW.findall(DOCS.read_text(encoding="utf-8")):
        if row_who.strip() == who:
            found += ROUTE.findall(routes)
    return found


ADMIN_ROUTES = documented("admin")
STAFF_ROUTES = documented("staff")


def _ask(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    url = PARAMETER.sub("x1", path)
    body: dict[str, str] | None = {} if method in ("POST", "PUT", "PATCH") else None
    answer = client.request(method, url, json=body, headers=headers, follow_redirects=False)
    return answer.status_code


def test_the_reference_names_routes_for_each_role() -> None:
    assert ("GET", "/api/v1/audit") in ADMIN_ROUTES
    assert ("GET", "/admin/audit") in ADMIN_ROUTES
    assert ("GET", "/board") in ADMIN_ROUTES
    assert ("GET", "/console") in STAFF_ROUTES
    assert len(ADMIN_ROUTES) >= 10


def test_operators_and_client_users_are_refused_every_admin_route(
    client: TestClient, operator_headers: dict[str, str], client_headers: dict[str, str]
) -> None:
    let_through = [
        f"{who} {method} {path}: {status}"
        for method, path in ADMIN_ROUTES
        for who, headers in (("operator", operator_headers), ("client", client_headers))
        if (status := _ask(client, method, path, headers)) != 403
    ]
    assert not let_through, "\n".join(let_through)


def test_client_users_are_refused_every_staff_route(
    client: TestClient, client_headers: dict[str, str]
) -> None:
    let_through = [
        f"{method} {path}: {status}"
        for method, path in STAFF_ROUTES
        if (status := _ask(client, method, path, client_headers)) != 403
    ]
    assert not let_through, "\n".join(let_through)


@pytest.fixture
def other_company_memo(session: Session, operator: User) -> str:
    other = make_company(session, slug="kaede-law", name="かえで法律事務所", hours=None)
    memo = take_memo(session, operator, client=other.slug, subject="かえでの秘密の件")
    return memo.id


def test_a_client_user_never_sees_another_companys_data(
    client: TestClient,
    session: Session,
    company: Company,
    client_user: User,
    other_company_memo: str,
) -> None:
    headers = make_token(session, client_user)
    own_memo_list = client.get("/api/v1/memos", headers=headers).json()["items"]
    searched = client.get("/api/v1/memos", params={"q": "かえで"}, headers=headers).json()
    by_client = client.get("/api/v1/memos", params={"client": "kaede-law"}, headers=headers)
    clients = client.get("/api/v1/clients", headers=headers).json()["items"]

    assert all(memo["client"] == company.slug for memo in own_memo_list)
    assert searched["items"] == []
    assert by_client.status_code in (200, 404)
    if by_client.status_code == 200:
        assert by_client.json()["items"] == []
    assert [c["slug"] for c in clients] == [company.slug]
    for path in (
        f"/api/v1/memos/{other_company_memo}",
        "/api/v1/clients/kaede-law",
    ):
        assert client.get(path, headers=headers).status_code == 404, path
    assert (
        client.post(f"/api/v1/memos/{other_company_memo}/ack", headers=headers).status_code == 404
    )
    portal = client.get(f"/portal/memos/{other_company_memo}", headers=headers)
    assert portal.status_code == 404
    export = client.get("/portal/export.csv", headers=headers)
    assert "かえで" not in export.text
