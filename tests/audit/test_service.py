"""The audit trail: recorded once, never changed, read back newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from service.audit import service as audit
from service.audit.service import Action, Actor
from service.clock import ManualClock
from service.errors import Invalid

KATO = Actor(name="kato@example.jp", user_id="u1", ip="192.0.2.10")


def make_entry(
    session: Session,
    *,
    action: Action = Action.sign_in,
    actor: Actor = KATO,
    target: str = "",
    company_id: str | None = None,
) -> audit.AuditEntry:
    return audit.record(
        session=session, actor=actor, action=action, target=target, company_id=company_id
    )


def test_an_act_is_recorded_with_who_when_and_what(session: Session, clock: ManualClock) -> None:
    entry = make_entry(
        session,
        action=Action.company_saved,
        target="company:sakura-dental",
        company_id="c1",
    )
    session.commit()

    [found], _ = audit.list_entries(session=session)
    assert found.id == entry.id
    assert (found.actor, found.actor_id, found.ip) == ("kato@example.jp", "u1", "192.0.2.10")
    assert (found.action, found.target, found.company_id) == (
        "company.saved",
        "company:sakura-dental",
        "c1",
    )
    assert found.at == clock.now()


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entries SET actor = 'x'", "DELETE FROM audit_entries"]
)
def test_the_database_refuses_to_change_or_delete_an_entry(
    session: Session, statement: str
) -> None:
    make_entry(session)
    session.commit()

    with pytest.raises(DatabaseError):
        session.execute(text(statement))
    session.rollback()

    [kept], _ = audit.list_entries(session=session)
    assert kept.actor == "kato@example.jp"


def test_entries_come_newest_first_a_page_at_a_time(session: Session, clock: ManualClock) -> None:
    for minute in range(5):
        make_entry(session, target=f"n{minute}")
        clock.advance(timedelta(minutes=1))
    session.commit()

    first, cursor = audit.list_entries(session=session, limit=2)
    second, cursor2 = audit.list_entries(session=session, limit=2, cursor=cursor)
    third, end = audit.list_entries(session=session, limit=2, cursor=cursor2)

    assert [e.target for e in first + second + third] == ["n4", "n3", "n2", "n1", "n0"]
    assert end is None


def test_filters_by_person_action_family_company_and_time(
    session: Session, clock: ManualClock
) -> None:
    start = clock.now()
    make_entry(session, action=Action.sign_in)
    clock.advance(timedelta(hours=1))
    make_entry(session, action=Action.company_saved, company_id="c1")
    make_entry(session, action=Action.company_restored, company_id="c2")
    make_entry(session, action=Action.sign_in_failed, actor=Actor(name="mallory@example.com"))
    session.commit()

    def actions(**filters: object) -> list[str]:
        rows, _ = audit.list_entries(session=session, **filters)  # type: ignore[arg-type]
        return sorted(row.action for row in rows)

    assert actions(actor="mallory@example.com") == ["sign_in_failed"]
    assert actions(action="company") == ["company.restored", "company.saved"]
    assert actions(action="sign_in") == ["sign_in"]
    assert actions(company_id="c2") == ["company.restored"]
    assert actions(until=start + timedelta(minutes=30)) == ["sign_in"]
    assert len(actions(since=start + timedelta(minutes=30))) == 3


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGEgY3Vyc29y", "MjAyNi0wMS0wMXx4IHk"])
def test_a_cursor_no_page_gave_is_refused(session: Session, cursor: str) -> None:
    with pytest.raises(Invalid) as refused:
        audit.list_entries(session=session, cursor=cursor)
    assert refused.value.code == "bad_cursor"
