"""Request text no database stores (NUL, unpaired surrogates) is refused with a 422 up front."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, select

from service.companies.models import Company
from service.memos.models import Memo
from service.request_text import unstorable
from tests.api.test_memos import memo_body
from tests.factories import make_company


@pytest.fixture
def sakura(session: Session) -> Company:
    """The company the memos name: a refused memo is refused for its text, not its client."""
    return make_company(session, slug="sakura-dental")


def post_json(client: TestClient, raw: str, headers: dict[str, str]) -> Response:
    return client.post(
        "/api/v1/memos",
        content=raw.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("予約の件 😢", False),
        ("a\x00b", True),
        ("\ud800", True),
        ("x\udfff", True),
        ("\ud83d\ude00", True),  # a pair, but as two code points: still not UTF-8
    ],
)
def test_unstorable_text(text: str, refused: bool) -> None:
    assert unstorable(text) is refused


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/memos?q=%00",
        "/api/v1/memos?q=a%00b",
        "/api/v1/memos?%00=x",
        "/api/v1/memos/%00",
        "/portal/memos/a%00b",
    ],
)
def test_a_nul_in_the_path_or_query_is_a_422(
    client: TestClient, operator_headers: dict[str, str], path: str
) -> None:
    response = client.get(path, headers=operator_headers)

    assert response.status_code == 422
    assert response.json()["code"] == "unstorable_text"


@pytest.mark.parametrize(
    ("overrides", "escape"),
    [
        ({"subject": "@"}, "\\u0000"),
        ({"subject": "@"}, "\\ud800"),
        ({"subject": "@"}, "x\\uDC00"),
        ({"caller": {"name": "@"}}, "\\ud83d"),
        ({"fields": {"@": "x"}}, "\\u0000"),
    ],
)
def test_a_json_body_holding_a_nul_or_a_lone_surrogate_is_a_422_and_nothing_is_taken(
    client: TestClient,
    session: Session,
    sakura: Company,
    operator_headers: dict[str, str],
    overrides: dict[str, object],
    escape: str,
) -> None:
    # The escape is written into the JSON text as a client would send it.
    raw = json.dumps(memo_body(**overrides)).replace('"@"', f'"{escape}"')

    response = post_json(client, raw, operator_headers)

    assert response.status_code == 422
    assert response.json()["code"] == "unstorable_text"
    assert session.exec(select(Memo)).all() == []


def test_escaped_backslashes_emoji_pairs_and_ordinary_text_pass_unchanged(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    # "\\u0000" is a backslash and "u0000", not a NUL; "\ud83d\ude00" is one emoji.
    raw = json.dumps(memo_body(subject="予約 \\u0000 😀", body="本文"))
    assert "\\\\u0000" in raw and "\\ud83d\\ude00" in raw

    response = post_json(client, raw, operator_headers)

    assert response.status_code == 201, response.text
    assert response.json()["subject"] == "予約 \\u0000 😀"


def test_json_nested_past_any_sense_is_refused_by_the_route_not_a_500(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    response = post_json(client, "[" * 100_000 + '"\\u0000"', operator_headers)

    assert response.status_code == 400


def test_a_form_field_with_a_nul_is_a_422(client: TestClient) -> None:
    response = client.post(
        "/login",
        content=b"email=a%00b%40example.com&password=x&csrf_token=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "unstorable_text"
