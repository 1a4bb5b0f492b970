"""The caller pages' notes and policy: shown, kept through their forms (CSRF as every form),
refused with the form again when wrong, and never across companies."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.auth.models import User
from service.calls.caller_notes import CallerNote
from service.calls.caller_policies import caller_policy
from service.clock import ManualClock
from service.companies.models import Company
from tests.factories import csrf_from, make_client_user, make_company
from tests.people import sign_in

STAFF_PAGE = "/callers/090-1111-2222"
PORTAL_PAGE = "/portal/callers/090-1111-2222"
JA = {"Accept-Language": "ja"}


def _post(client: TestClient, page: str, path: str, data: dict[str, str]) -> object:
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def _momiji(session: Session) -> tuple[Company, User]:
    momiji = make_company(
        session, slug="momiji-law", name="もみじ法律事務所", phone_numbers=["+815099998888"]
    )
    kaede = make_client_user(session, company_id=momiji.id, email="kaede@example.jp")
    return momiji, kaede


def test_a_company_keeps_notes_and_sets_its_policy_from_its_caller_page(
    client: TestClient, session: Session, company: Company, client_user: User, clock: ManualClock
) -> None:
    sign_in(client, client_user)
    kept = _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/notes", {"text": "院長の知人"})
    assert kept.status_code == 303  # type: ignore[attr-defined]
    assert kept.headers["location"] == "/portal/callers/%2B819011112222#caller-notes"  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=1))
    set_ = _post(
        client,
        PORTAL_PAGE,
        f"{PORTAL_PAGE}/policy",
        {"text": "折り返しはいたしません", "time_limit_minutes": "5"},
    )
    assert set_.status_code == 303  # type: ignore[attr-defined]

    page = client.get(PORTAL_PAGE, headers=JA).text
    assert "院長の知人" in page and "折り返しはいたしません" in page
    assert 'action="/portal/callers/%2B819011112222/notes"' in page
    policy = caller_policy(session=session, company_id=company.id, phone="+819011112222")
    assert policy is not None and policy.time_limit_minutes == 5
    session.commit()  # the app writes next

    cleared = _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/policy/clear", {})
    assert cleared.status_code == 303  # type: ignore[attr-defined]
    session.expire_all()
    assert caller_policy(session=session, company_id=company.id, phone="+819011112222") is None
    acts = session.exec(
        select(AuditEntry.action).where(col(AuditEntry.action).startswith("caller."))
    ).all()
    assert sorted(acts) == ["caller.note_added", "caller.policy_cleared", "caller.policy_set"]


def test_a_wrong_form_is_shown_again_with_what_was_entered(
    client: TestClient, company: Company, client_user: User
) -> None:
    sign_in(client, client_user)
    refused = _post(
        client,
        PORTAL_PAGE,
        f"{PORTAL_PAGE}/policy",
        {"text": "責任者に代わる", "time_limit_minutes": "500"},
    )
    assert refused.status_code == 422  # type: ignore[attr-defined]
    html = refused.text  # type: ignore[attr-defined]
    assert 'id="policy-error"' in html and "責任者に代わる" in html
    blank = _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/notes", {"text": "   "})
    assert blank.status_code == 422  # type: ignore[attr-defined]
    assert 'id="note-error"' in blank.text  # type: ignore[attr-defined]


def test_a_form_without_its_csrf_token_is_refused(
    client: TestClient, company: Company, client_user: User, session: Session
) -> None:
    sign_in(client, client_user)
    refused = client.post(f"{PORTAL_PAGE}/notes", data={"text": "x"}, follow_redirects=False)
    assert refused.status_code == 403
    assert session.exec(select(CallerNote)).all() == []


def test_another_company_neither_sees_nor_removes_the_notes(
    client: TestClient, session: Session, company: Company, client_user: User
) -> None:
    sign_in(client, client_user)
    _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/notes", {"text": "社長の親族"})
    _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/policy", {"text": "責任者に代わる"})
    note = session.exec(select(CallerNote)).one()
    session.commit()
    client.cookies.clear()

    _, kaede = _momiji(session)
    sign_in(client, kaede)
    page = client.get(PORTAL_PAGE).text
    assert "社長の親族" not in page and "責任者に代わる" not in page
    removed = _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/notes/{note.id}/delete", {})
    assert removed.status_code == 404  # type: ignore[attr-defined]
    # Clearing "the policy" from its own page clears only its own company's (none).
    _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/policy/clear", {})
    assert caller_policy(session=session, company_id=company.id, phone="+819011112222")
    assert session.exec(select(CallerNote)).all() != []


def test_staff_see_every_companys_notes_and_write_for_one_admin_alone_sets_policy(
    client: TestClient,
    session: Session,
    company: Company,
    operator: User,
    admin: User,
    client_user: User,
) -> None:
    momiji, _ = _momiji(session)
    sign_in(client, client_user)
    _post(client, PORTAL_PAGE, f"{PORTAL_PAGE}/notes", {"text": "社長の親族"})
    client.cookies.clear()

    sign_in(client, operator)
    wrote = _post(
        client, STAFF_PAGE, f"{STAFF_PAGE}/notes", {"company": "momiji-law", "text": "依頼者"}
    )
    assert wrote.status_code == 303  # type: ignore[attr-defined]
    page = client.get(STAFF_PAGE, headers=JA).text
    assert "社長の親族" in page and "依頼者" in page
    assert 'id="policy-form"' not in page  # operators read policies only
    no_company = _post(client, STAFF_PAGE, f"{STAFF_PAGE}/notes", {"text": "x"})
    assert no_company.status_code == 422  # type: ignore[attr-defined]
    refused = _post(
        client, STAFF_PAGE, f"{STAFF_PAGE}/policy", {"company": "momiji-law", "text": "x"}
    )
    assert refused.status_code == 403  # type: ignore[attr-defined]
    # The company's own note is not the operator's to remove.
    theirs = session.exec(select(CallerNote).where(CallerNote.text == "社長の親族")).one()
    assert f"/notes/{theirs.id}/delete" not in page
    session.commit()
    client.cookies.clear()

    sign_in(client, admin)
    set_ = _post(
        client,
        STAFF_PAGE,
        f"{STAFF_PAGE}/policy",
        {"company": "momiji-law", "text": "責任者に代わる", "time_limit_minutes": ""},
    )
    assert set_.status_code == 303  # type: ignore[attr-defined]
    policy = caller_policy(session=session, company_id=momiji.id, phone="+819011112222")
    assert policy is not None and policy.time_limit_minutes is None
    session.commit()
    removed = _post(client, STAFF_PAGE, f"{STAFF_PAGE}/notes/{theirs.id}/delete", {})
    assert removed.status_code == 303  # type: ignore[attr-defined]
    html = client.get(STAFF_PAGE).text
    assert "社長の親族" not in html
    assert re.search(r'data-company="momiji-law"', html)


def test_a_client_user_cannot_use_the_staff_forms(
    client: TestClient, company: Company, client_user: User
) -> None:
    sign_in(client, client_user)
    token = csrf_from(client.get(PORTAL_PAGE).text)
    refused = client.post(
        f"{STAFF_PAGE}/notes",
        data={"company": "sakura-dental", "text": "x", "csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 403
