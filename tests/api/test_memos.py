"""POST/GET /api/v1/memos: validation per company, idempotency, scoping and paging."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.acks.service import AckVia, acknowledge
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from service.intake import service as intake
from service.memos.models import Memo
from tests.factories import csrf_from, make_company, make_token, make_user
from tests.i18n.japanese import japanese_in
from tests.people import sign_in
from tests.refusals import refused

FIELDS = [{"key": "patient_no", "label": "診察券番号", "required": True}]


@pytest.fixture
def sakura(session: Session) -> Company:
    return make_company(
        session, slug="sakura-dental", phone_numbers=["+815012345678"], fields=FIELDS
    )


@pytest.fixture
def aoba(session: Session) -> Company:
    return make_company(session, slug="aoba-property", phone_numbers=["+81312345678"])


def memo_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client": "sakura-dental",
        "category": "complaint",
        "urgency": "normal",
        "caller": {"name": "山田 太郎", "phone": "090-1111-2222", "company": None},
        "subject": "予約時間の行き違い 😢",
        "body": "本日15時の予約で来院したところ、予約が入っていないと言われた。至急折り返し希望。",
        "fields": {"patient_no": "12345"},
    }
    body.update(overrides)
    return body


def test_memo_is_taken_with_japanese_text_and_a_normalised_number(
    client: TestClient, session: Session, sakura: Company, operator_headers: dict[str, str]
) -> None:
    response = client.post("/api/v1/memos", json=memo_body(), headers=operator_headers)

    assert response.status_code == 201, response.text
    memo = response.json()
    assert memo["client"] == "sakura-dental"
    assert memo["status"] == "relaying"
    assert memo["acknowledged"] is None
    # A complaint goes by email to the director and the office, in the memo's own transaction.
    assert [
        (d["contact"], d["channel"], d["to"], d["status"], d["reason"]) for d in memo["deliveries"]
    ] == [
        ("director", "email", "sato@example.jp", "pending", "routing"),
        ("office", "email", "uketsuke@example.jp", "pending", "routing"),
    ]
    assert [d["to_display"] for d in memo["deliveries"]] == [
        "sato@example.jp",
        "uketsuke@example.jp",
    ]
    assert len(memo["ack_code"]) == 4 and memo["ack_code"].isdigit()
    assert memo["caller"] == {
        "name": "山田 太郎",
        "phone": "+819011112222",
        "phone_display": "090-1111-2222",
        "company": None,
    }
    assert memo["subject"] == "予約時間の行き違い 😢"
    assert memo["fields"] == {"patient_no": "12345"}
    assert memo["script_version"] == sakura.version

    again = client.get(f"/api/v1/memos/{memo['id']}", headers=operator_headers).json()
    assert again["body"] == memo_body()["body"]
    stored = session.get(Memo, memo["id"])
    assert stored is not None and stored.subject == "予約時間の行き違い 😢"


def test_full_width_phone_typed_with_an_ime_is_accepted(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    caller = {"name": "佐藤", "phone": "０９０－１１１１－２２２２"}
    response = client.post("/api/v1/memos", json=memo_body(caller=caller), headers=operator_headers)
    assert response.status_code == 201
    assert response.json()["caller"]["phone"] == "+819011112222"


def test_line_breaks_and_control_characters_in_header_fields_become_spaces(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    caller = {"name": "山田\x1c\x1d\x1e太郎", "phone": None, "company": "山田\u2028商事\x01"}
    body = "一行目\n二行目"
    response = client.post(
        "/api/v1/memos",
        json=memo_body(caller=caller, subject="予約の\r\n件\x85", body=body),
        headers=operator_headers,
    )

    assert response.status_code == 201, response.text
    memo = response.json()
    assert memo["caller"] == {
        "name": "山田 太郎",
        "phone": None,
        "phone_display": "",
        "company": "山田 商事",
    }
    assert memo["subject"] == "予約の 件"
    assert memo["body"] == body


@pytest.mark.parametrize(
    ("override", "where", "code", "says"),
    [
        ({"client": "no-such-company"}, "client", "unknown_client", "no-such-company"),
        ({"fields": {}}, "fields.patient_no", "missing", "診察券番号"),
        (
            {"fields": {"patient_no": "1", "shoe_size": "27"}},
            "fields",
            "unknown_field",
            "shoe_size",
        ),
        ({"category": "praise"}, "category", "not_a_choice", "complaint"),
        ({"urgency": "whenever"}, "urgency", "not_a_choice", "urgent"),
        ({"caller": {"name": "x", "phone": "12"}}, "caller.phone", "bad_phone", "12"),
        ({"subject": "あ" * 201}, "subject", "too_long", "200"),
        ({"subject": "   "}, "subject", "too_short", "1"),
        ({"subject": "\x07\u2028\x01"}, "subject", "missing", "空"),
    ],
)
def test_invalid_memo_is_refused_with_a_readable_422(
    client: TestClient,
    session: Session,
    sakura: Company,
    operator_headers: dict[str, str],
    override: dict[str, Any],
    where: str,
    code: str,
    says: str,
) -> None:
    response = client.post("/api/v1/memos", json=memo_body(**override), headers=operator_headers)
    body = refused(response, status=422, code=code)
    [problem] = body.errors
    assert problem.field == where
    assert problem.code == code
    assert says in problem.message
    # The reader's language: Japanese unless the request asks for English.
    assert japanese_in(problem.message)
    assert session.exec(select(Memo)).all() == []


def test_body_over_64_kib_is_refused_with_413(
    client: TestClient, session: Session, sakura: Company, operator_headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/memos", json=memo_body(body="あ" * 22_000), headers=operator_headers
    )
    body = refused(response, status=413, code="too_large")
    assert body.field == "body"
    assert "64" in body.detail
    assert session.exec(select(Memo)).all() == []


def test_double_submit_with_one_idempotency_key_makes_one_memo(
    client: TestClient, session: Session, sakura: Company, operator_headers: dict[str, str]
) -> None:
    headers = {**operator_headers, "Idempotency-Key": "draft-7f3a"}
    first = client.post("/api/v1/memos", json=memo_body(), headers=headers)
    second = client.post("/api/v1/memos", json=memo_body(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert len(session.exec(select(Memo)).all()) == 1


def test_an_empty_idempotency_key_is_no_key(
    client: TestClient, session: Session, sakura: Company, operator_headers: dict[str, str]
) -> None:
    headers = {**operator_headers, "Idempotency-Key": ""}
    first = client.post("/api/v1/memos", json=memo_body(), headers=headers)
    second = client.post("/api/v1/memos", json=memo_body(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["id"] != second.json()["id"]
    assert len(session.exec(select(Memo)).all()) == 2


def test_a_repeat_that_would_now_be_refused_still_answers_with_the_first_memo(
    client: TestClient, session: Session, sakura: Company, operator_headers: dict[str, str]
) -> None:
    headers = {**operator_headers, "Idempotency-Key": "draft-9c1e"}
    first = client.post("/api/v1/memos", json=memo_body(), headers=headers).json()

    # Sent again after the company's form changed (here: the required field is now empty).
    again = client.post("/api/v1/memos", json=memo_body(fields={}), headers=headers)
    refused = client.post(
        "/api/v1/memos",
        json=memo_body(fields={}),
        headers={**operator_headers, "Idempotency-Key": "new"},
    )

    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert refused.status_code == 422
    assert len(session.exec(select(Memo)).all()) == 1


def test_a_code_held_by_an_open_memo_is_drawn_again_until_acknowledged(
    client: TestClient,
    session: Session,
    sakura: Company,
    operator_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter(["4821", "4821", "0570", "4821"])
    monkeypatch.setattr(intake, "_draw_code", lambda digits: next(draws))

    def take() -> dict[str, Any]:
        response = client.post("/api/v1/memos", json=memo_body(), headers=operator_headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    first, second = take(), take()
    assert (first["ack_code"], second["ack_code"]) == ("4821", "0570")
    acknowledge(session=session, memo_id=first["id"], by="佐藤", via=AckVia.operator)
    session.commit()
    assert take()["ack_code"] == "4821"  # an acknowledged memo gives its code back


def test_only_operators_take_memos(
    client: TestClient, sakura: Company, admin_headers: dict[str, str]
) -> None:
    assert client.post("/api/v1/memos", json=memo_body()).status_code == 401
    assert client.post("/api/v1/memos", json=memo_body(), headers=admin_headers).status_code == 403


def test_memo_list_is_newest_first_filtered_and_paged(
    client: TestClient,
    sakura: Company,
    aoba: Company,
    operator_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    ids = []
    for index in range(5):
        clock.advance(timedelta(minutes=1))
        body = memo_body(subject=f"件名{index}", body="水漏れ" if index % 2 else "予約")
        ids.append(client.post("/api/v1/memos", json=body, headers=operator_headers).json()["id"])
    other = {"client": "aoba-property", "fields": {}}
    client.post("/api/v1/memos", json=memo_body(**other), headers=operator_headers)

    seen: list[str] = []
    cursor = None
    while True:
        params = {"client": "sakura-dental", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/memos", params=params, headers=operator_headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))

    found = client.get("/api/v1/memos", params={"q": "水漏れ"}, headers=operator_headers).json()
    assert {item["subject"] for item in found["items"]} == {"件名1", "件名3"}
    relaying = client.get("/api/v1/memos", params={"status": "relaying"}, headers=operator_headers)
    assert len(relaying.json()["items"]) == 6
    assert (
        client.get("/api/v1/memos", params={"cursor": "%%%"}, headers=operator_headers).status_code
        == 400
    )
    assert (
        client.get("/api/v1/memos", params={"status": "lost"}, headers=operator_headers).status_code
        == 422
    )


def cursor_of(text: str) -> str:
    """`text` as a list cursor is written: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# What no list ever handed out: a time without a zone, times past the ends of the calendar
# once in UTC, a NUL in the id, and plain junk.
BAD_CURSORS = [
    cursor_of("2024-01-01T00:00:00|x"),
    cursor_of("9999-12-31T23:59:59-14:00|x"),
    cursor_of("0001-01-01T00:00:00+14:00|x"),
    cursor_of("2024-01-01T00:00:00+00:00|x\x00y"),
    cursor_of("2024-01-01T00:00:00+00:00"),
    "%%%",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_cursor_no_list_handed_out_is_a_400(
    client: TestClient, sakura: Company, operator_headers: dict[str, str], cursor: str
) -> None:
    response = client.get("/api/v1/memos", params={"cursor": cursor}, headers=operator_headers)

    body = refused(response, status=400, code="bad_cursor")
    assert body.field == "cursor"


def test_client_user_sees_only_its_own_company(
    client: TestClient,
    session: Session,
    sakura: Company,
    aoba: Company,
    operator_headers: dict[str, str],
) -> None:
    mine = client.post("/api/v1/memos", json=memo_body(), headers=operator_headers).json()
    theirs = client.post(
        "/api/v1/memos", json=memo_body(client="aoba-property", fields={}), headers=operator_headers
    ).json()
    user = make_user(session, email="sato@example.jp", role=Role.client, company_id=sakura.id)
    as_client = make_token(session, user)

    listed = client.get("/api/v1/memos", headers=as_client).json()["items"]
    assert [item["id"] for item in listed] == [mine["id"]]
    assert (
        client.get("/api/v1/memos", params={"client": "aoba-property"}, headers=as_client).json()[
            "items"
        ]
        == []
    )
    assert client.get(f"/api/v1/memos/{mine['id']}", headers=as_client).status_code == 200
    assert client.get(f"/api/v1/memos/{theirs['id']}", headers=as_client).status_code == 404
    assert client.post("/api/v1/memos", json=memo_body(), headers=as_client).status_code == 403


def test_a_signed_in_browser_needs_the_csrf_token_to_take_a_memo(
    client: TestClient, session: Session, sakura: Company, operator: User
) -> None:
    sign_in(client, operator)

    refused = client.post("/api/v1/memos", json=memo_body())
    assert refused.status_code == 403
    assert session.exec(select(Memo)).all() == []
    session.commit()

    token = csrf_from(client.get("/").text)
    taken = client.post("/api/v1/memos", json=memo_body(), headers={"X-CSRF-Token": token})
    assert taken.status_code == 201


# --- Finding memos: the filters, search by words, custom fields and any form of a number.


def take(http: TestClient, headers: dict[str, str], **overrides: Any) -> str:
    """A memo taken through the API; its id."""
    response = http.post("/api/v1/memos", json=memo_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    memo_id: str = response.json()["id"]
    return memo_id


def found(http: TestClient, headers: dict[str, str], **params: str) -> list[str]:
    """The ids `GET /api/v1/memos` answers with `params`, newest first."""
    response = http.get("/api/v1/memos", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def three_memos(
    client: TestClient,
    sakura: Company,
    aoba: Company,
    operator_headers: dict[str, str],
    clock: ManualClock,
) -> dict[str, str]:
    """A complaint, an urgent inquiry a day later and another company's order a day after."""
    first = take(
        client,
        operator_headers,
        caller={"name": "山田 太郎", "phone": "080-9999-0001", "company": "山田商事"},
        fields={"patient_no": "A-77"},
    )
    clock.advance(timedelta(days=1))
    second = take(
        client,
        operator_headers,
        category="inquiry",
        urgency="urgent",
        caller={"name": "佐々木 花", "phone": "03-1234-5678"},
        subject="駐車場について",
        body="駐車場の場所を知りたい。",
        fields={"patient_no": "診察券なし"},
    )
    clock.advance(timedelta(days=1))
    third = take(
        client,
        operator_headers,
        client="aoba-property",
        category="order",
        caller={"name": "Ken Ito", "phone": "+1 212-555-0100"},
        subject="鍵の交換",
        body="玄関の鍵を交換してほしい。",
        fields={},
    )
    return {"first": first, "second": second, "third": third}


def test_each_filter_narrows_the_list(
    client: TestClient, operator_headers: dict[str, str], three_memos: dict[str, str]
) -> None:
    first, second, third = three_memos["first"], three_memos["second"], three_memos["third"]

    assert found(client, operator_headers) == [third, second, first]
    assert found(client, operator_headers, client="sakura-dental") == [second, first]
    assert found(client, operator_headers, category="inquiry") == [second]
    assert found(client, operator_headers, urgency="urgent") == [second]
    assert found(client, operator_headers, status="relaying") == [third, second, first]
    assert found(client, operator_headers, status="acknowledged") == []
    assert found(client, operator_headers, category="order", client="sakura-dental") == []


def test_since_is_inclusive_and_until_exclusive_on_the_time_taken(
    client: TestClient,
    operator_headers: dict[str, str],
    three_memos: dict[str, str],
) -> None:
    second_at = client.get(
        f"/api/v1/memos/{three_memos['second']}", headers=operator_headers
    ).json()["created_at"]
    moment = datetime.fromisoformat(second_at).astimezone(timezone(timedelta(hours=9)))

    assert found(client, operator_headers, since=moment.isoformat()) == [
        three_memos["third"],
        three_memos["second"],
    ]
    assert found(client, operator_headers, until=moment.isoformat()) == [three_memos["first"]]
    window = {"since": moment.isoformat(), "until": (moment + timedelta(hours=1)).isoformat()}
    assert found(client, operator_headers, **window) == [three_memos["second"]]


def test_a_time_without_an_offset_is_refused(
    client: TestClient, operator_headers: dict[str, str], sakura: Company
) -> None:
    response = client.get(
        "/api/v1/memos", params={"since": "2026-04-01T09:00:00"}, headers=operator_headers
    )

    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "typed",
    [
        "080-9999-0001",
        "08099990001",
        "+818099990001",
        "+81 80-9999-0001",
        "０８０－９９９９－０００１",
        "(080) 9999 0001",
        "9999-0001",
    ],
)
def test_a_phone_number_is_found_in_any_form_it_is_written(
    client: TestClient, operator_headers: dict[str, str], three_memos: dict[str, str], typed: str
) -> None:
    assert found(client, operator_headers, q=typed) == [three_memos["first"]]


def test_a_number_abroad_is_found_as_its_country_writes_it(
    client: TestClient, operator_headers: dict[str, str], three_memos: dict[str, str]
) -> None:
    assert found(client, operator_headers, q="+1 (212) 555-0100") == [three_memos["third"]]
    assert found(client, operator_headers, q="212-555-0100") == [three_memos["third"]]
    assert found(client, operator_headers, q="03-1234-5678") == [three_memos["second"]]


@pytest.mark.parametrize(
    ("typed", "which"),
    [
        ("駐車場", "second"),  # the subject and the details
        ("山田商事", "first"),  # the caller's company
        ("佐々木", "second"),  # the caller's name
        ("玄関の鍵", "third"),  # the details
        ("診察券なし", "second"),  # a custom field's value, in Japanese
        ("a-77", "first"),  # a custom field's value, either case
        ("ken ito", "third"),
    ],
)
def test_words_are_found_in_text_caller_and_custom_fields(
    client: TestClient,
    operator_headers: dict[str, str],
    three_memos: dict[str, str],
    typed: str,
    which: str,
) -> None:
    assert found(client, operator_headers, q=typed) == [three_memos[which]]


def test_search_treats_like_wildcards_as_plain_text(
    client: TestClient, operator_headers: dict[str, str], three_memos: dict[str, str]
) -> None:
    assert found(client, operator_headers, q="%") == []
    assert found(client, operator_headers, q="_") == []


def test_paging_keeps_the_filters_and_loses_no_memo(
    client: TestClient,
    sakura: Company,
    aoba: Company,
    operator_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    wanted = []
    for index in range(7):
        # Several memos share one moment, so the id breaks the tie.
        if index % 3 == 0:
            clock.advance(timedelta(minutes=1))
        wanted.append(take(client, operator_headers, body=f"水漏れ {index}", urgency="urgent"))
        take(client, operator_headers, body=f"水漏れ {index}")  # normal: filtered out
        take(client, operator_headers, client="aoba-property", fields={}, body="水漏れ")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"q": "水漏れ", "urgency": "urgent", "client": "sakura-dental", "limit": "3"}
        page = client.get(
            "/api/v1/memos",
            params={**params, **({"cursor": cursor} if cursor else {})},
            headers=operator_headers,
        ).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(wanted)
    assert len(seen) == len(set(seen)) == 7
    assert pages == 3


def test_a_client_user_never_finds_another_companys_memo(
    client: TestClient,
    session: Session,
    sakura: Company,
    operator_headers: dict[str, str],
    three_memos: dict[str, str],
) -> None:
    user = make_user(session, email="kanri@aoba.example", role=Role.client, company_id=sakura.id)
    as_client = make_token(session, user)

    assert found(client, as_client, q="鍵の交換") == []
    assert found(client, as_client, q="+12125550100") == []
    assert found(client, as_client, q="鍵", client="aoba-property") == []
    assert found(client, as_client, q="080-9999-0001") == [three_memos["first"]]
    trail = client.get(f"/api/v1/memos/{three_memos['third']}/trail", headers=as_client)
    refused(trail, status=404)


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00"]
)
def test_a_time_filter_past_the_calendar_or_without_a_zone_is_a_422(
    client: TestClient, sakura: Company, operator_headers: dict[str, str], moment: str
) -> None:
    for name in ("since", "until"):
        response = client.get("/api/v1/memos", params={name: moment}, headers=operator_headers)
        body = refused(response, status=422)
        assert body.field == name
