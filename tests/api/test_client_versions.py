"""A company's versions through the API: ETag and If-Match, the list, one version, restore, diff."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.clock import ManualClock
from service.companies import service
from service.companies.models import Company
from tests.factories import company_document, make_company
from tests.refusals import refused

URL = "/api/v1/clients/sakura-dental"
NEW_GREETING = "お電話ありがとうございます。さくら歯科でございます。"


def _edit(client: TestClient, headers: dict[str, str], **changes: object) -> dict[str, object]:
    """GET the company, change it, PUT it back with its ETag; the PUT's answer."""
    got = client.get(URL, headers=headers)
    document = {**got.json(), **changes}
    response = client.put(URL, json=document, headers={**headers, "If-Match": got.headers["ETag"]})
    assert response.status_code == 200, response.text
    return {"etag": response.headers["ETag"], **response.json()}


def _audit(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.at))).all())


def test_a_company_answers_the_etag_of_its_version(
    client: TestClient, company: Company, operator_headers: dict[str, str]
) -> None:
    response = client.get(URL, headers=operator_headers)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"v1"'


def test_a_put_naming_the_current_version_saves_and_answers_the_new_etag(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    saved = _edit(client, admin_headers, greeting=NEW_GREETING)

    assert saved["etag"] == '"v2"'
    assert (saved["version"], saved["greeting"]) == (2, NEW_GREETING)
    entry = _audit(session)[-1]
    assert (entry.actor, entry.action, entry.target) == (
        "admin@relay.example",
        "company.saved",
        "company:sakura-dental",
    )
    assert entry.company_id == company.id
    assert entry.detail["version"] == "2"
    assert entry.detail["summary"] == "greeting changed"


def test_a_put_over_a_newer_save_is_412_naming_who_and_nothing_is_saved(
    client: TestClient,
    session: Session,
    company: Company,
    admin_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    stale = client.get(URL, headers=admin_headers)
    clock.advance(timedelta(minutes=3))
    _edit(client, admin_headers, greeting=NEW_GREETING)

    document = {**stale.json(), "name": "さくら歯科医院"}
    response = client.put(
        URL,
        json=document,
        headers={**admin_headers, "If-Match": stale.headers["ETag"], "Accept-Language": "en"},
    )

    body = refused(response, status=412, code="version_conflict")
    assert "admin@relay.example" in body.detail
    assert "version 2" in body.detail
    assert "UTC" in body.detail
    session.expire_all()
    current = service.get_company(session=session, slug="sakura-dental")
    assert current is not None
    assert (current.version, current.name) == (2, "さくら歯科クリニック")
    assert [entry.detail["version"] for entry in _audit(session)] == ["2"]


def test_if_match_is_read_in_every_common_form(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    document = client.get(URL, headers=admin_headers).json()

    for version, tag in enumerate(('W/"v1"', "v2", "3"), start=1):
        document["greeting"] = f"お電話ありがとうございます。({version})"
        response = client.put(URL, json=document, headers={**admin_headers, "If-Match": tag})
        assert response.status_code == 200, response.text
    odd = client.put(URL, json=document, headers={**admin_headers, "If-Match": '"latest"'})

    refused(odd, status=412, code="version_conflict")


def test_a_put_without_if_match_still_replaces(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    document = company_document(greeting=NEW_GREETING, hours=None)

    response = client.put(URL, json=document, headers=admin_headers)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"v2"'


def test_if_none_match_star_creates_only(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "If-None-Match": "*"}

    taken = client.put(URL, json=company_document(), headers=headers)
    fresh = client.put(
        "/api/v1/clients/aoba-dental",
        json=company_document(slug="aoba-dental"),
        headers=headers,
    )

    refused(taken, status=412, code="company_exists")
    assert fresh.status_code == 201
    assert fresh.headers["ETag"] == '"v1"'


def test_versions_are_listed_newest_first_with_who_when_and_a_summary(
    client: TestClient,
    session: Session,
    company: Company,
    admin_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    clock.advance(timedelta(minutes=5))
    contacts = client.get(URL, headers=admin_headers).json()["contacts"]
    contacts[1]["name"] = "受付（平日）"
    _edit(client, admin_headers, greeting=NEW_GREETING, contacts=contacts)

    english = client.get(f"{URL}/versions", headers={**admin_headers, "Accept-Language": "en"})
    japanese = client.get(f"{URL}/versions", headers={**admin_headers, "Accept-Language": "ja"})

    assert english.status_code == 200, english.text
    items = english.json()["items"]
    assert [(item["version"], item["by"], item["summary"]) for item in items] == [
        (2, "admin@relay.example", "greeting, contacts changed"),
        (1, "test", "created"),
    ]
    assert items[0]["at"] == clock.now().isoformat()
    assert items[0]["changed"] == ["greeting", "contacts"]
    assert [item["summary"] for item in japanese.json()["items"]] == [
        "挨拶、連絡先を変更",
        "作成",
    ]


def test_one_version_is_the_document_as_it_was(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    _edit(client, admin_headers, greeting=NEW_GREETING)

    first = client.get(f"{URL}/versions/1", headers=admin_headers)
    missing = client.get(f"{URL}/versions/9", headers=admin_headers)

    assert first.status_code == 200, first.text
    body = first.json()
    assert body["greeting"] == company_document()["greeting"]
    assert (body["version"], body["by"]) == (1, "test")
    assert body["contacts"] == company_document()["contacts"]
    refused(missing, status=404, code="not_found")


def test_restore_makes_a_new_version_equal_to_the_old_one(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    original = client.get(URL, headers=admin_headers).json()
    _edit(client, admin_headers, greeting=NEW_GREETING)

    restored = client.post(
        f"{URL}/versions/1/restore", headers={**admin_headers, "Accept-Language": "en"}
    )
    again = client.post(f"{URL}/versions/1/restore", headers=admin_headers)
    versions = client.get(f"{URL}/versions", headers={**admin_headers, "Accept-Language": "en"})

    assert restored.status_code == 201, restored.text
    assert restored.headers["ETag"] == '"v3"'
    body = restored.json()
    assert body["version"] == 3
    assert body["greeting"] == original["greeting"]
    # Restoring what is already current changes nothing.
    assert (again.status_code, again.json()["version"]) == (200, 3)
    top = versions.json()["items"][0]
    assert (top["version"], top["restored_from"]) == (3, 1)
    assert top["summary"] == "restored version 1: greeting changed"
    assert [(e.action, e.detail["version"]) for e in _audit(session)] in (
        [("company.saved", "2"), ("company.restored", "3")],
        # Both at the same instant of the test clock: either order.
        [("company.restored", "3"), ("company.saved", "2")],
    )
    [entry] = [e for e in _audit(session) if e.action == "company.restored"]
    assert (entry.target, entry.detail["restored_from"]) == ("company:sakura-dental", "1")


def test_restore_over_a_newer_save_is_412(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    _edit(client, admin_headers, greeting=NEW_GREETING)

    response = client.post(
        f"{URL}/versions/1/restore", headers={**admin_headers, "If-Match": '"v1"'}
    )

    refused(response, status=412, code="version_conflict")


def test_a_restore_whose_number_now_belongs_to_another_company_is_409(
    client: TestClient, session: Session, company: Company, admin_headers: dict[str, str]
) -> None:
    [number] = client.get(URL, headers=admin_headers).json()["phone_numbers"]
    _edit(client, admin_headers, phone_numbers=[])
    make_company(session, slug="aoba-dental", phone_numbers=[number])

    response = client.post(f"{URL}/versions/1/restore", headers=admin_headers)

    body = refused(response, status=409, code="phone_number_taken")
    assert body.field == "phone_numbers.0"


def test_the_diff_of_two_versions_reads_like_the_yaml_file(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    old_greeting = client.get(URL, headers=admin_headers).json()["greeting"]
    _edit(client, admin_headers, greeting=NEW_GREETING)

    response = client.get(f"{URL}/diff?from=1&to=2", headers=admin_headers)
    latest = client.get(f"{URL}/diff", headers=admin_headers)
    unknown = client.get(f"{URL}/diff?from=1&to=7", headers=admin_headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"]) == (1, 2)
    changed = [line for line in body["lines"] if line["op"] != "same"]
    assert changed == [
        {"op": "remove", "text": f"greeting: {old_greeting}"},
        {"op": "add", "text": f"greeting: {NEW_GREETING}"},
    ]
    assert body["lines"][0] == {"op": "same", "text": "slug: sakura-dental"}
    assert latest.json() == body
    assert refused(unknown, status=404).field == "to"


def test_only_admins_read_versions_and_restore(
    client: TestClient,
    company: Company,
    operator_headers: dict[str, str],
    client_headers: dict[str, str],
) -> None:
    for headers in (operator_headers, client_headers):
        assert client.get(f"{URL}/versions", headers=headers).status_code == 403
        assert client.get(f"{URL}/versions/1", headers=headers).status_code == 403
        assert client.get(f"{URL}/diff", headers=headers).status_code == 403
        assert client.post(f"{URL}/versions/1/restore", headers=headers).status_code == 403
    assert client.get(f"{URL}/versions").status_code == 401


def test_if_match_on_a_company_that_does_not_exist_is_412(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    response = client.put(
        URL, json=company_document(), headers={**admin_headers, "If-Match": '"v1"'}
    )

    refused(response, status=412, code="version_conflict")
    assert service.get_company(session=session, slug="sakura-dental") is None


def test_a_restore_naming_the_current_version_is_made(
    client: TestClient, company: Company, admin_headers: dict[str, str]
) -> None:
    etag = str(_edit(client, admin_headers, greeting=NEW_GREETING)["etag"])

    response = client.post(f"{URL}/versions/1/restore", headers={**admin_headers, "If-Match": etag})

    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == '"v3"'
