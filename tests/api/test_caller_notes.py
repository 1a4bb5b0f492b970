"""Caller notes and policies over the API: staff name the company, a company's users act for
their own only, and another company's notes and policies do not exist for them."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from tests.factories import make_client_user, make_company, make_token

NOTES = "/api/v1/callers/090-1111-2222/notes"
POLICY = "/api/v1/callers/090-1111-2222/policy"


def _other_company_headers(session: Session) -> dict[str, str]:
    momiji = make_company(
        session, slug="momiji-law", name="もみじ法律事務所", phone_numbers=["+815099998888"]
    )
    kaede = make_client_user(session, company_id=momiji.id, email="kaede@example.jp")
    return make_token(session, kaede)


def test_staff_write_for_a_named_company_and_its_users_read_them(
    client: TestClient,
    session: Session,
    company: Company,
    operator: User,
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    missing = client.post(NOTES, json={"text": "午後のみ折り返し可"}, headers=operator_headers)
    assert (missing.status_code, missing.json()["code"], missing.json()["field"]) == (
        422,
        "missing",
        "company",
    )
    written = client.post(
        NOTES,
        params={"company": "sakura-dental"},
        json={"text": "午後のみ折り返し可"},
        headers=operator_headers,
    )
    assert written.status_code == 201, written.text
    body = written.json()
    assert (body["client"], body["phone"], body["text"], body["written_by_bureau"]) == (
        "sakura-dental",
        "+819011112222",
        "午後のみ折り返し可",
        True,
    )
    assert body["written_by"] == (operator.display_name or operator.email)

    clock.advance(timedelta(minutes=1))
    own = client.post(NOTES, json={"text": "院長の知人"}, headers=client_headers)
    assert own.status_code == 201, own.text
    assert own.json()["written_by_bureau"] is False

    seen = client.get(NOTES, headers=client_headers).json()["items"]
    assert [n["text"] for n in seen] == ["院長の知人", "午後のみ折り返し可"]
    staff = client.get(NOTES, headers=operator_headers).json()["items"]
    assert len(staff) == 2

    entry = session.exec(
        select(AuditEntry).where(col(AuditEntry.action) == "caller.note_added")
    ).first()
    assert entry is not None and entry.target == "caller:+819011112222"


def test_another_companys_user_neither_reads_nor_writes_nor_removes(
    client: TestClient,
    session: Session,
    company: Company,
    client_headers: dict[str, str],
) -> None:
    note = client.post(NOTES, json={"text": "社長の親族"}, headers=client_headers).json()
    other = _other_company_headers(session)

    assert client.get(NOTES, headers=other).json()["items"] == []
    named = client.get(NOTES, params={"company": "sakura-dental"}, headers=other)
    assert (named.status_code, named.json()["code"]) == (404, "not_found")
    write = client.post(
        NOTES, params={"company": "sakura-dental"}, json={"text": "x"}, headers=other
    )
    assert write.status_code == 404
    removed = client.delete(f"{NOTES}/{note['id']}", headers=other)
    assert (removed.status_code, removed.json()["code"]) == (404, "not_found")
    assert (
        client.put(
            POLICY, params={"company": "sakura-dental"}, json={"text": "x"}, headers=other
        ).status_code
        == 404
    )


def test_a_note_is_removed_by_its_writer_or_an_admin_only(
    client: TestClient,
    company: Company,
    operator_headers: dict[str, str],
    admin_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    note = client.post(NOTES, json={"text": "長電話"}, headers=client_headers).json()
    refused = client.delete(f"{NOTES}/{note['id']}", headers=operator_headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    removed = client.delete(f"{NOTES}/{note['id']}", headers=admin_headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["text"] == "長電話"
    again = client.delete(f"{NOTES}/{note['id']}", headers=admin_headers)
    assert again.status_code == 404
    mine = client.post(NOTES, json={"text": "再掲"}, headers=client_headers).json()
    assert client.delete(f"{NOTES}/{mine['id']}", headers=client_headers).status_code == 200
    wrong_number = client.delete(
        f"/api/v1/callers/090-3333-4444/notes/{note['id']}", headers=admin_headers
    )
    assert wrong_number.status_code == 404


def test_bad_input_is_a_clear_4xx(
    client: TestClient, company: Company, client_headers: dict[str, str]
) -> None:
    bad_phone = client.get("/api/v1/callers/abc/notes", headers=client_headers)
    assert (bad_phone.status_code, bad_phone.json()["field"]) == (422, "phone")
    empty = client.post(NOTES, json={"text": ""}, headers=client_headers)
    assert empty.status_code == 422
    blank = client.post(NOTES, json={"text": "   "}, headers=client_headers)
    assert (blank.status_code, blank.json()["field"]) == (422, "text")
    long = client.post(NOTES, json={"text": "あ" * 2001}, headers=client_headers)
    assert long.status_code == 422
    for minutes in (0, 121, "ten"):
        limit = client.put(
            POLICY, json={"text": "短く", "time_limit_minutes": minutes}, headers=client_headers
        )
        assert limit.status_code == 422, minutes


def test_staff_naming_no_such_company_get_404(
    client: TestClient, company: Company, operator_headers: dict[str, str]
) -> None:
    unknown = client.post(
        NOTES, params={"company": "nope"}, json={"text": "x"}, headers=operator_headers
    )
    assert (unknown.status_code, unknown.json()["field"]) == (404, "company")


def test_policy_is_set_by_an_admin_or_the_company_and_read_by_operators(
    client: TestClient,
    session: Session,
    company: Company,
    operator_headers: dict[str, str],
    admin_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    sakura = {"company": "sakura-dental"}
    refused = client.put(
        POLICY, params=sakura, json={"text": "折り返しはいたしません"}, headers=operator_headers
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")

    by_admin = client.put(
        POLICY,
        params=sakura,
        json={"text": "折り返しはいたしません", "time_limit_minutes": 5},
        headers=admin_headers,
    )
    assert by_admin.status_code == 200, by_admin.text
    assert (by_admin.json()["text"], by_admin.json()["time_limit_minutes"]) == (
        "折り返しはいたしません",
        5,
    )
    by_company = client.put(POLICY, json={"text": "責任者に代わる"}, headers=client_headers)
    assert by_company.json()["time_limit_minutes"] is None

    read = client.get(POLICY, headers=operator_headers).json()["items"]
    assert [(p["client"], p["text"]) for p in read] == [("sakura-dental", "責任者に代わる")]
    assert client.get(POLICY, headers=client_headers).json()["items"][0]["text"] == "責任者に代わる"
    assert client.delete(POLICY, params=sakura, headers=operator_headers).status_code == 403
    cleared = client.delete(POLICY, headers=client_headers)
    assert (cleared.status_code, cleared.json()["text"]) == (200, "責任者に代わる")
    gone = client.delete(POLICY, params=sakura, headers=admin_headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    acts = session.exec(
        select(AuditEntry.action).where(col(AuditEntry.action).startswith("caller.policy"))
    ).all()
    assert sorted(acts) == ["caller.policy_cleared", "caller.policy_set", "caller.policy_set"]


def test_the_call_detail_carries_the_called_companys_policy_and_latest_notes(
    client: TestClient,
    clock: ManualClock,
    company: Company,
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    client.put(
        POLICY, json={"text": "責任者に代わる", "time_limit_minutes": 3}, headers=client_headers
    )
    for n in range(7):
        clock.advance(timedelta(seconds=1))
        client.post(NOTES, json={"text": f"メモ{n}"}, headers=client_headers)
    call = client.post(
        "/api/v1/calls/simulate",
        json={"client": "sakura-dental", "from": "090-1111-2222"},
        headers=operator_headers,
    ).json()
    detail = client.get(f"/api/v1/calls/{call['id']}", headers=operator_headers).json()
    assert detail["caller"]["policy"]["text"] == "責任者に代わる"
    assert detail["caller"]["policy"]["time_limit_minutes"] == 3
    assert [n["text"] for n in detail["caller"]["notes"]] == [f"メモ{n}" for n in (6, 5, 4, 3, 2)]
    answered = client.post(f"/api/v1/calls/{call['id']}/answer", headers=operator_headers).json()
    assert answered["caller"]["policy"]["text"] == "責任者に代わる"
    # Looked up on their own, a caller is no one company's: no policy, no notes.
    alone = client.get("/api/v1/callers/090-1111-2222", headers=operator_headers).json()
    assert (alone["policy"], alone["notes"]) == (None, [])


def test_routes_declare_their_response_schemas(app: FastAPI) -> None:
    schema = app.openapi()["paths"]
    for path, method in [
        ("/api/v1/callers/{phone}/notes", "get"),
        ("/api/v1/callers/{phone}/notes", "post"),
        ("/api/v1/callers/{phone}/notes/{note_id}", "delete"),
        ("/api/v1/callers/{phone}/policy", "put"),
        ("/api/v1/callers/{phone}/policy", "delete"),
    ]:
        ok = "201" if method == "post" else "200"
        assert "$ref" in str(schema[path][method]["responses"][ok]), (path, method)


def test_the_exports_carry_the_notes_and_policies_each_may_see(
    client: TestClient,
    session: Session,
    company: Company,
    operator_headers: dict[str, str],
    admin_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    other = _other_company_headers(session)
    client.post(NOTES, json={"text": "院長の知人"}, headers=client_headers)
    client.post(NOTES, json={"text": "依頼者"}, headers=other)
    client.put(
        POLICY, json={"text": "責任者に代わる", "time_limit_minutes": 10}, headers=client_headers
    )
    client.post(
        "/api/v1/calls/simulate",
        json={"client": "sakura-dental", "from": "090-1111-2222"},
        headers=operator_headers,
    )

    bureau = client.get(
        "/api/v1/callers/090-1111-2222/export", params={"format": "json"}, headers=admin_headers
    ).json()
    assert sorted(n["text"] for n in bureau["notes"]) == ["依頼者", "院長の知人"]
    assert [(p["client"], p["time_limit_minutes"]) for p in bureau["policies"]] == [
        ("sakura-dental", 10)
    ]
    csv_text = client.get(
        "/api/v1/callers/090-1111-2222/export",
        params={"format": "csv"},
        headers={**admin_headers, "Accept-Language": "en"},
    ).text
    assert "院長の知人" in csv_text and "責任者に代わる" in csv_text

    own = client.get(
        "/portal/callers/090-1111-2222/export", params={"format": "json"}, headers=client_headers
    ).json()
    assert [n["text"] for n in own["notes"]] == ["院長の知人"]
    assert own["notes"][0]["written_by_bureau"] is False
    assert [p["text"] for p in own["policies"]] == ["責任者に代わる"]
