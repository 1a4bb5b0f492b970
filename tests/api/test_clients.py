"""`/api/v1/clients`: who may read and write client companies, and what they get back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.clock import ManualClock
from service.companies import service
from service.companies.models import Company
from tests.factories import company_document, make_company
from tests.refusals import refused


def test_without_credentials_the_answer_is_401(client: TestClient, session: Session) -> None:
    make_company(session)

    assert client.get("/api/v1/clients").status_code == 401
    assert client.get("/api/v1/clients/sakura-dental").status_code == 401
    assert client.put("/api/v1/clients/sakura-dental", json=company_document()).status_code == 401


def test_an_operator_reads_every_company_with_greeting_and_script(
    client: TestClient, session: Session, operator_headers: dict[str, str], clock: ManualClock
) -> None:
    make_company(session, slug="sakura-dental")
    make_company(session, slug="aoba-property", name="あおば不動産管理株式会社")

    listed = client.get("/api/v1/clients", headers=operator_headers)
    one = client.get("/api/v1/clients/sakura-dental", headers=operator_headers)

    assert listed.status_code == 200
    assert [item["slug"] for item in listed.json()["items"]] == ["aoba-property", "sakura-dental"]
    body = one.json()
    assert body["greeting"] == "お電話ありがとうございます。さくら歯科クリニックでございます。"
    assert body["script"][2] == {"ask": "診察券番号をお持ちですか。", "field": "patient_no"}
    assert body["fields"] == [{"key": "patient_no", "label": "診察券番号", "required": False}]
    assert body["escalation"][0]["after"] == "15m"
    assert body["version"] == 1
    assert body["updated_at"] == clock.now().isoformat()


def test_an_unknown_company_is_404(client: TestClient, operator_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/clients/nobody", headers=operator_headers)

    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


def test_an_operator_may_not_write(
    client: TestClient, session: Session, operator_headers: dict[str, str]
) -> None:
    response = client.put(
        "/api/v1/clients/sakura-dental", json=company_document(), headers=operator_headers
    )

    assert response.status_code == 403
    assert service.get_company(session=session, slug="sakura-dental") is None


def test_an_admin_creates_then_replaces_with_a_new_version(
    client: TestClient, session: Session, admin_headers: dict[str, str], clock: ManualClock
) -> None:
    document = company_document()
    del document["slug"]

    created = client.put("/api/v1/clients/sakura-dental", json=document, headers=admin_headers)
    clock.advance(timedelta(minutes=5))
    document["greeting"] = "お電話ありがとうございます。さくら歯科でございます。"
    replaced = client.put("/api/v1/clients/sakura-dental", json=document, headers=admin_headers)
    again = client.put("/api/v1/clients/sakura-dental", json=document, headers=admin_headers)

    assert created.status_code == 201, created.json()
    assert (created.json()["slug"], created.json()["version"]) == ("sakura-dental", 1)
    assert replaced.status_code == 200
    assert replaced.json()["version"] == 2
    assert replaced.json()["greeting"] == "お電話ありがとうございます。さくら歯科でございます。"
    assert replaced.json()["updated_at"] == clock.now().isoformat()
    assert (again.status_code, again.json()["version"]) == (200, 2)
    company = service.get_company(session=session, slug="sakura-dental")
    assert company is not None
    versions = service.company_versions(session=session, company=company)
    assert [(v.version, v.changed_by) for v in versions] == [
        (1, "admin@relay.example"),
        (2, "admin@relay.example"),
    ]


def test_a_put_normalises_phone_numbers(client: TestClient, admin_headers: dict[str, str]) -> None:
    document = company_document(phone_numbers=["+81 50-1234-5678"])

    response = client.put("/api/v1/clients/sakura-dental", json=document, headers=admin_headers)

    assert response.json()["phone_numbers"] == ["+815012345678"]


def test_an_invalid_document_is_422_with_field_and_reason(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    document = company_document(routing=[{"notify": ["boss"], "channels": ["email"]}], locale="fr")

    response = client.put(
        "/api/v1/clients/sakura-dental",
        json=document,
        headers={**admin_headers, "Accept-Language": "en"},
    )

    body = refused(response, status=422, code="invalid_company")
    detail = {item.field: item.message for item in body.errors}
    assert detail["locale"] == "'fr' is not allowed here: use 'ja' or 'en'"
    assert service.get_company(session=session, slug="sakura-dental") is None


def test_a_routing_problem_names_its_place(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    document = company_document(routing=[{"notify": ["boss"], "channels": ["email"]}])

    response = client.put("/api/v1/clients/sakura-dental", json=document, headers=admin_headers)

    body = refused(response, status=422, code="invalid_company")
    [item] = body.errors
    assert item.field == "routing.0.notify.0"
    assert item.message == "連絡先 'boss' はありません（連絡先: director, office）"
    assert (
        body.detail
        == "routing[0].notify[0]: 連絡先 'boss' はありません（連絡先: director, office）"
    )


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("ja", "連絡先 'office' には電話番号がないため、sms で通知できません"),
        ("en", "contact 'office' has no phone, so cannot be notified by sms"),
    ],
)
def test_a_refused_document_is_explained_in_the_readers_language(
    client: TestClient, admin_headers: dict[str, str], language: str, message: str
) -> None:
    document = company_document(routing=[{"notify": ["office"], "channels": ["sms"]}])

    response = client.put(
        "/api/v1/clients/sakura-dental",
        json=document,
        headers={**admin_headers, "Accept-Language": language},
    )

    body = refused(response, status=422, code="invalid_company")
    assert [(item.field, item.message) for item in body.errors] == [("routing.0.notify.0", message)]
    assert body.detail == f"routing[0].notify[0]: {message}"


@pytest.mark.parametrize("body", [["not", "a", "company"], "text"])
def test_a_body_that_is_not_an_object_is_422(
    client: TestClient, admin_headers: dict[str, str], body: object
) -> None:
    response = client.put("/api/v1/clients/sakura-dental", json=body, headers=admin_headers)

    assert response.status_code == 422


def test_a_slug_that_differs_from_the_address_is_422(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    document = company_document(slug="aoba-property")

    response = client.put("/api/v1/clients/sakura-dental", json=document, headers=admin_headers)

    body = refused(response, status=422, code="slug_mismatch")
    assert body.field == "slug"


def test_a_number_of_another_company_is_409(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    make_company(session, slug="aoba-property", phone_numbers=["+81222174410"])
    document = company_document(phone_numbers=["+815012345678", "+81222174410"])

    response = client.put("/api/v1/clients/sakura-dental", json=document, headers=admin_headers)

    body = refused(response, status=409, code="phone_number_taken")
    assert "+81222174410" in body.detail
    assert "aoba-property" in body.detail
    # The very entry, so a form marks the number that clashes.
    assert body.field == "phone_numbers.1"
    assert [problem.field for problem in body.errors] == ["phone_numbers.1"]
    assert service.get_company(session=session, slug="sakura-dental") is None


def test_a_client_user_sees_only_its_own_company(
    client: TestClient, session: Session, company: Company, client_headers: dict[str, str]
) -> None:
    assert company.slug == "sakura-dental"
    make_company(session, slug="aoba-property", name="あおば不動産管理株式会社")

    listed = client.get("/api/v1/clients", headers=client_headers)
    mine = client.get("/api/v1/clients/sakura-dental", headers=client_headers)
    other = client.get("/api/v1/clients/aoba-property", headers=client_headers)

    assert [item["slug"] for item in listed.json()["items"]] == ["sakura-dental"]
    assert mine.status_code == 200
    assert other.status_code == 404


def test_a_client_user_may_not_write_even_its_own_company(
    client: TestClient, company: Company, client_headers: dict[str, str]
) -> None:
    response = client.put(
        f"/api/v1/clients/{company.slug}",
        json=company_document(greeting="こんにちは"),
        headers=client_headers,
    )

    assert response.status_code == 403


def test_a_contact_whose_phone_sent_stop_is_shown_and_a_get_can_be_put_back(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    from service.routing.optouts import record_opt_out

    make_company(session)
    record_opt_out(session=session, phone="+819012345678")  # the director's phone
    session.commit()

    shown = client.get("/api/v1/clients/sakura-dental", headers=admin_headers).json()
    assert shown["sms_opted_out"] == ["director"]

    shown["greeting"] = "お電話ありがとうございます。さくら歯科でございます。"
    again = client.put("/api/v1/clients/sakura-dental", json=shown, headers=admin_headers)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 2
