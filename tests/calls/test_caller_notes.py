"""Caller notes: kept per company and caller, newest first, removed and purged, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.audit.service import Actor
from service.auth.models import Role, User
from service.calls import caller_notes as notes
from service.calls.caller_notes import CallerNote, purge_caller_notes
from service.clock import ManualClock
from service.companies.models import Company
from tests.factories import make_client_user, make_company

CALLER = "+819011112222"


@pytest.fixture
def momiji(session: Session) -> Company:
    return make_company(
        session, slug="momiji-law", name="もみじ法律事務所", phone_numbers=["+815099998888"]
    )


def _as(user: User) -> Actor:
    return Actor(name=user.email, user_id=user.id)


def _write(session: Session, company: Company, user: User, text: str) -> CallerNote:
    note = notes.add_caller_note(
        session=session, company_id=company.id, phone=CALLER, text=text, actor=_as(user)
    )
    session.commit()
    return note


def test_notes_are_kept_per_company_newest_first_and_audited(
    session: Session, clock: ManualClock, company: Company, momiji: Company, operator: User
) -> None:
    first = _write(session, company, operator, "  折り返し希望は午後のみ  ")
    clock.advance(timedelta(minutes=1))
    second = _write(session, company, operator, "院長の知人とのこと")
    _write(session, momiji, operator, "別件の依頼者")

    mine = notes.caller_notes(session=session, phone=CALLER, company_id=company.id)
    assert [n.id for n in mine] == [second.id, first.id]
    assert first.text == "折り返し希望は午後のみ"
    assert len(notes.caller_notes(session=session, phone=CALLER, company_id=None)) == 3
    latest = notes.caller_notes(session=session, phone=CALLER, company_id=company.id, limit=1)
    assert [n.id for n in latest] == [second.id]

    trail = session.exec(
        select(AuditEntry).where(col(AuditEntry.action) == "caller.note_added")
    ).all()
    assert {(e.target, e.company_id) for e in trail} == {
        (f"caller:{CALLER}", company.id),
        (f"caller:{CALLER}", momiji.id),
    }


@pytest.mark.parametrize("text", ["   ", "あ" * 2001])
def test_an_empty_or_overlong_note_is_refused(
    session: Session, company: Company, operator: User, text: str
) -> None:
    with pytest.raises(notes.CallerNoteError) as refused:
        notes.add_caller_note(
            session=session, company_id=company.id, phone=CALLER, text=text, actor=_as(operator)
        )
    assert refused.value.field == "text"


def test_a_removed_note_stays_in_the_audit_trail(
    session: Session, company: Company, operator: User, admin: User
) -> None:
    note = _write(session, company, operator, "長電話になりがち")
    assert notes.may_delete_note(user=operator, note=note)
    assert notes.may_delete_note(user=admin, note=note)
    found = notes.get_caller_note(session=session, note_id=note.id, phone=CALLER)
    notes.delete_caller_note(session=session, note=found, actor=_as(admin))
    session.commit()

    assert notes.caller_notes(session=session, phone=CALLER, company_id=company.id) == []
    removed = session.exec(
        select(AuditEntry).where(col(AuditEntry.action) == "caller.note_deleted")
    ).one()
    assert (removed.actor, removed.detail["text"]) == (admin.email, "長電話になりがち")
    with pytest.raises(notes.CallerNoteNotFound):
        notes.get_caller_note(session=session, note_id=note.id, phone=CALLER)


def test_who_may_read_and_remove(
    session: Session, company: Company, momiji: Company, operator: User, client_user: User
) -> None:
    other = make_user_of(session, momiji)
    note = _write(session, company, client_user, "社長の親族")
    assert notes.may_read_company(user=operator, company_id=company.id)
    assert notes.may_read_company(user=client_user, company_id=company.id)
    assert not notes.may_read_company(user=other, company_id=company.id)
    assert notes.may_delete_note(user=client_user, note=note)
    assert not notes.may_delete_note(user=operator, note=note)
    assert not notes.may_delete_note(user=other, note=note)


def make_user_of(session: Session, company: Company) -> User:
    user = make_client_user(session, company_id=company.id, email="kaede@example.jp")
    assert user.role == Role.client
    return user


def test_purge_deletes_one_companys_notes_written_before_a_moment(
    session: Session, clock: ManualClock, company: Company, momiji: Company, operator: User
) -> None:
    old = _write(session, company, operator, "古いメモ")
    _write(session, momiji, operator, "他社の古いメモ")
    clock.advance(timedelta(days=400))
    cutoff = clock.now()
    kept = _write(session, company, operator, "新しいメモ")

    assert purge_caller_notes(session=session, company_id=company.id, before=cutoff) == 1
    session.commit()
    left = notes.caller_notes(session=session, phone=CALLER, company_id=None)
    assert old.id not in {n.id for n in left}
    assert {n.text for n in left} == {kept.text, "他社の古いメモ"}
    assert purge_caller_notes(session=session, company_id=company.id, before=cutoff) == 0
