"""The admin's company pages: the list and its search, the editor, the YAML view, the versions."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit.models import AuditEntry
from service.auth.models import User
from service.companies.models import Company
from service.companies.service import company_config, get_company
from service.companies.yaml_io import dump_company
from service.web import admin_companies
from tests.factories import csrf_from, make_company
from tests.people import sign_in

PAGES = [
    "/admin",
    "/admin/companies",
    "/admin/companies/new",
    "/admin/companies/sakura-dental",
    "/admin/companies/sakura-dental/yaml",
    "/admin/companies/sakura-dental/versions",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_visitor_is_sent_to_sign_in(client: TestClient, company: Company, path: str) -> None:
    response = client.get(path, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PAGES)
def test_operators_and_client_users_get_a_403_page(
    client: TestClient, operator: User, client_user: User, path: str
) -> None:
    for person in (operator, client_user):
        client.cookies.clear()
        sign_in(client, person)

        page = client.get(path, follow_redirects=False)

        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert "admin_company.js" not in page.text


def test_saving_yaml_is_refused_to_operators_and_client_users(
    client: TestClient, operator: User, client_user: User, session: Session
) -> None:
    for person, own_page in ((operator, "/console"), (client_user, "/portal")):
        client.cookies.clear()
        sign_in(client, person)
        token = csrf_from(client.get(own_page).text)

        answer = client.post(
            "/admin/companies/sakura-dental/yaml",
            data={"text": "slug: sakura-dental\nname: x", "version": "1", "csrf_token": token},
        )

        assert answer.status_code == 403
    session.expire_all()
    assert get_company(session=session, slug="sakura-dental").name == "さくら歯科クリニック"  # type: ignore[union-attr]


def test_admin_home_is_the_company_list(client: TestClient, admin: User) -> None:
    sign_in(client, admin)

    response = client.get("/admin", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/companies"


def _listed(html: str) -> list[str]:
    return re.findall(r'<li data-slug="([^"]+)">', html)


def test_the_list_shows_each_company_with_its_numbers_as_written_at_home(
    client: TestClient, admin: User, session: Session
) -> None:
    make_company(session, phone_numbers=["+81358204182", "+815031716620"])
    make_company(session, slug="maple-law", name="Maple Law", phone_numbers=["+12125550100"])
    sign_in(client, admin)

    page = client.get("/admin/companies")

    assert page.status_code == 200
    assert _listed(page.text) == ["maple-law", "sakura-dental"]
    assert '<a class="company-name" href="/admin/companies/sakura-dental"' in page.text
    assert "03-5820-4182" in page.text
    assert "050-3171-6620" in page.text
    assert "(212) 555-0100" in page.text
    assert 'href="/admin/companies/new"' in page.text
    assert 'aria-current="page">会社' in page.text


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("さくら", ["sakura-dental"]),
        ("歯科", ["sakura-dental"]),
        ("maple", ["maple-law"]),
        ("ＭＡＰＬＥ", ["maple-law"]),  # full-width, as a Japanese input method types it
        ("dental", ["sakura-dental"]),
        ("03-5820-4182", ["sakura-dental"]),  # as the list shows it
        ("0358204182", ["sakura-dental"]),
        ("+81 3 5820 4182", ["sakura-dental"]),
        ("０３－５８２０", ["sakura-dental"]),
        ("212-555", ["maple-law"]),
        ("(212) 555-0100", ["maple-law"]),
        ("999999", []),
        ("", ["maple-law", "sakura-dental"]),
    ],
)
def test_search_finds_by_name_slug_or_number_in_any_format(
    client: TestClient, admin: User, session: Session, query: str, found: list[str]
) -> None:
    make_company(session, phone_numbers=["+81358204182"])
    make_company(session, slug="maple-law", name="Maple Law", phone_numbers=["+12125550100"])
    sign_in(client, admin)

    page = client.get("/admin/companies", params={"q": query})

    assert _listed(page.text) == found
    if query:
        assert f'value="{query}"' in page.text


def test_a_long_list_comes_a_page_at_a_time(
    client: TestClient, admin: User, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_companies, "PAGE_SIZE", 2)
    for slug in ("aoba", "maple", "sakura"):
        make_company(session, slug=slug, phone_numbers=[])
    sign_in(client, admin)

    first = client.get("/admin/companies", headers={"Accept-Language": "en"})
    second = client.get("/admin/companies", params={"page": 2})
    beyond = client.get("/admin/companies", params={"page": 9})

    assert _listed(first.text) == ["aoba", "maple"]
    assert "Page 1 of 2" in first.text
    assert 'href="/admin/companies?q=&amp;page=2"' in first.text
    assert _listed(second.text) == ["sakura"]
    assert _listed(beyond.text) == ["sakura"]


def test_the_list_follows_every_save(client: TestClient, admin: User, session: Session) -> None:
    make_company(session, phone_numbers=["+81358204182"])
    sign_in(client, admin)
    assert "03-5820-4182" in client.get("/admin/companies").text

    make_company(session, name="さくら歯科", phone_numbers=["+815031716620"])
    page = client.get("/admin/companies").text

    assert "050-3171-6620" in page
    assert "03-5820-4182" not in page
    assert "さくら歯科<" in page


def test_the_list_speaks_english_to_an_english_reader(
    client: TestClient, admin: User, company: Company
) -> None:
    sign_in(client, admin)

    page = client.get("/admin/companies", headers={"Accept-Language": "en"})

    assert '<html lang="en">' in page.text
    assert "New company" in page.text
    assert "Search by name, slug or phone number" in page.text
    assert "新しい会社" not in page.text


def _editor_data(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="editor-data"[^>]*>(.*?)</script>', html)
    assert found is not None
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_the_editor_page_names_its_company_and_loads_its_script(
    client: TestClient, admin: User, company: Company
) -> None:
    sign_in(client, admin)

    page = client.get("/admin/companies/sakura-dental")

    assert page.status_code == 200
    assert _editor_data(page.text) == {"slug": "sakura-dental", "locale": "ja"}
    assert "/static/admin_company.js?v=" in page.text
    assert 'sandbox=""' in page.text
    assert '<option value="Asia/Tokyo">' in page.text
    assert 'href="/admin/companies/sakura-dental/versions"' in page.text
    assert 'id="test-send"' in page.text


def test_the_editor_lets_the_email_preview_keep_its_inline_styles_and_nothing_more(
    client: TestClient, admin: User, company: Company
) -> None:
    sign_in(client, admin)

    editor = client.get("/admin/companies/sakura-dental").headers["content-security-policy"]
    listing = client.get("/admin/companies").headers["content-security-policy"]

    assert "style-src 'self' 'unsafe-inline'" in editor
    assert "script-src 'self' 'nonce-" in editor
    assert "'unsafe-inline'" not in listing


def test_a_new_company_page_has_no_slug_yet_and_no_test_send(
    client: TestClient, admin: User
) -> None:
    sign_in(client, admin)

    page = client.get("/admin/companies/new", headers={"Accept-Language": "en"})

    assert page.status_code == 200
    assert _editor_data(page.text) == {"slug": None, "locale": "en"}
    assert 'id="test-send"' not in page.text


def test_an_unknown_company_is_a_404_page(client: TestClient, admin: User) -> None:
    sign_in(client, admin)

    for path in ("/admin/companies/nobody", "/admin/companies/nobody/yaml"):
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")


def test_the_versions_page_carries_the_company_and_its_script(
    client: TestClient, admin: User, company: Company
) -> None:
    sign_in(client, admin)

    page = client.get("/admin/companies/sakura-dental/versions")

    assert page.status_code == 200
    assert "/static/admin_company_versions.js?v=" in page.text
    assert '"slug": "sakura-dental"' in page.text


def _yaml_form(client: TestClient) -> tuple[str, str, str]:
    page = client.get("/admin/companies/sakura-dental/yaml")
    assert page.status_code == 200
    text = re.search(r'<textarea id="yaml-text"[^>]*>(.*?)</textarea>', page.text, re.S)
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert text is not None and version is not None
    return unescape(text.group(1)), version.group(1), csrf_from(page.text)


def test_the_yaml_view_shows_the_document_as_export_writes_it(
    client: TestClient, admin: User, company: Company
) -> None:
    sign_in(client, admin)

    text, version, _ = _yaml_form(client)

    assert text == dump_company(company_config(company))
    assert version == "1"


def test_saving_yaml_makes_a_new_version_and_records_who(
    client: TestClient, admin: User, company: Company, session: Session
) -> None:
    sign_in(client, admin)
    text, version, token = _yaml_form(client)
    changed = text.replace("name: さくら歯科クリニック", "name: さくら歯科")

    answer = client.post(
        "/admin/companies/sakura-dental/yaml",
        data={"text": changed, "version": version, "csrf_token": token},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/companies/sakura-dental/yaml?saved=2"
    session.expire_all()
    saved = get_company(session=session, slug="sakura-dental")
    assert saved is not None
    assert (saved.version, saved.name) == (2, "さくら歯科")
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "company.saved")).one()
    assert (entry.actor, entry.action, entry.target) == (
        admin.email,
        "company.saved",
        "company:sakura-dental",
    )
    session.commit()  # ends the read, so the app may write
    shown = client.get(answer.headers["location"], headers={"Accept-Language": "en"})
    assert "Saved as version 2." in shown.text


def test_a_refused_yaml_keeps_the_text_and_says_each_line(
    client: TestClient, admin: User, company: Company, session: Session
) -> None:
    sign_in(client, admin)
    text, version, token = _yaml_form(client)
    broken = text.replace("name: さくら歯科クリニック", "name: さくら歯科クリニック\nextra: 1")

    answer = client.post(
        "/admin/companies/sakura-dental/yaml",
        data={"text": broken, "version": version, "csrf_token": token},
        headers={"Accept-Language": "en"},
    )

    assert answer.status_code == 422
    assert "unknown key &#39;extra&#39;" in answer.text
    assert "Line 3" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert "extra: 1" in answer.text
    session.expire_all()
    assert get_company(session=session, slug="sakura-dental").version == 1  # type: ignore[union-attr]


def test_a_refused_yaml_says_the_reason_in_the_readers_language(
    client: TestClient, admin: User, company: Company
) -> None:
    sign_in(client, admin)
    text, version, token = _yaml_form(client)
    broken = text.replace("name: さくら歯科クリニック", "name: さくら歯科クリニック\nextra: 1")

    answer = client.post(
        "/admin/companies/sakura-dental/yaml",
        data={"text": broken, "version": version, "csrf_token": token},
        headers={"Accept-Language": "ja"},
    )

    assert answer.status_code == 422
    assert "キー &#39;extra&#39; は使えません（使えるキー: slug, name," in answer.text
    assert "unknown key" not in answer.text


def test_a_yaml_saved_over_a_newer_version_is_refused_and_kept(
    client: TestClient, admin: User, company: Company, session: Session
) -> None:
    sign_in(client, admin)
    text, version, token = _yaml_form(client)
    make_company(session, greeting="はい、さくら歯科です。")  # someone else saves version 2

    answer = client.post(
        "/admin/companies/sakura-dental/yaml",
        data={"text": text.replace("クリニック", ""), "version": version, "csrf_token": token},
        headers={"Accept-Language": "en"},
    )

    assert answer.status_code == 412
    assert "someone saved a newer version" in answer.text
    assert 'name="version" value="1"' in answer.text
    session.expire_all()
    saved = get_company(session=session, slug="sakura-dental")
    assert saved is not None
    assert (saved.version, saved.name) == (2, "さくら歯科クリニック")


def test_a_yaml_with_another_slug_or_a_taken_number_is_refused(
    client: TestClient, admin: User, company: Company, session: Session
) -> None:
    make_company(session, slug="maple-law", name="Maple Law", phone_numbers=["+12125550100"])
    sign_in(client, admin)
    text, version, token = _yaml_form(client)

    renamed = client.post(
        "/admin/companies/sakura-dental/yaml",
        data={
            "text": text.replace("slug: sakura-dental", "slug: sakura"),
            "version": version,
            "csrf_token": token,
        },
    )
    taken = client.post(
        "/admin/companies/sakura-dental/yaml",
        data={
            "text": re.sub(r"phone_numbers: \[.*\]", 'phone_numbers: ["+12125550100"]', text),
            "version": version,
            "csrf_token": token,
        },
        headers={"Accept-Language": "en"},
    )

    assert renamed.status_code == 422
    assert "differs from this company" in renamed.text
    assert taken.status_code == 409
    assert "+12125550100 already belongs to maple-law" in taken.text
