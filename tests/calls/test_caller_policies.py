"""Caller policies: one per company and caller, replaced when set again, cleared, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.audit.service import Actor
from service.auth.models import User
from service.calls import caller_policies as policies
from service.clock import ManualClock
from service.companies.models import Company
from tests.factories import make_company

CALLER = "+819011112222"


def _as(user: User) -> Actor:
    return Actor(name=user.email, user_id=user.id)


def test_setting_again_replaces_the_one_policy_and_clearing_withdraws_it(
    session: Session, clock: ManualClock, company: Company, admin: User, client_user: User
) -> None:
    policies.set_caller_policy(
        session=session,
        company_id=company.id,
        phone=CALLER,
        text="折り返しはいたしません",
        time_limit_minutes=None,
        actor=_as(admin),
    )
    session.commit()
    clock.advance(timedelta(minutes=5))
    policy = policies.set_caller_policy(
        session=session,
        company_id=company.id,
        phone=CALLER,
        text=" 責任者に代わる ",
        time_limit_minutes=10,
        actor=_as(client_user),
    )
    session.commit()

    found = policies.caller_policy(session=session, company_id=company.id, phone=CALLER)
    assert found is not None and found.id == policy.id
    assert (found.text, found.time_limit_minutes, found.set_by, found.set_at) == (
        "責任者に代わる",
        10,
        client_user.id,
        clock.now(),
    )
    assert len(policies.caller_policies(session=session, phone=CALLER)) == 1

    # A moment later, so the audit trail's order is the order of the acts.
    clock.advance(timedelta(minutes=1))
    withdrawn = policies.clear_caller_policy(
        session=session, company_id=company.id, phone=CALLER, actor=_as(admin)
    )
    session.commit()
    assert withdrawn is not None
    assert policies.caller_policy(session=session, company_id=company.id, phone=CALLER) is None
    assert (
        policies.clear_caller_policy(
            session=session, company_id=company.id, phone=CALLER, actor=_as(admin)
        )
        is None
    )
    acts = session.exec(
        select(AuditEntry.action, AuditEntry.actor).order_by(col(AuditEntry.at), col(AuditEntry.id))
    ).all()
    assert [tuple(a) for a in acts if a[0].startswith("caller.")] == [
        ("caller.policy_set", admin.email),
        ("caller.policy_set", client_user.email),
        ("caller.policy_cleared", admin.email),
    ]


@pytest.mark.parametrize(
    ("text", "minutes", "field"),
    [
        ("  ", None, "text"),
        ("x" * 501, None, "text"),
        ("短く", 0, "time_limit_minutes"),
        ("短く", 121, "time_limit_minutes"),
    ],
)
def test_a_policy_needs_words_and_a_limit_of_1_to_120_minutes(
    session: Session, company: Company, admin: User, text: str, minutes: int | None, field: str
) -> None:
    with pytest.raises(policies.CallerPolicyError) as refused:
        policies.set_caller_policy(
            session=session,
            company_id=company.id,
            phone=CALLER,
            text=text,
            time_limit_minutes=minutes,
            actor=_as(admin),
        )
    assert refused.value.field == field


def test_only_an_admin_or_the_companys_own_users_set_it(
    session: Session, company: Company, admin: User, operator: User, client_user: User
) -> None:
    other = make_company(session, slug="momiji-law", phone_numbers=["+815099998888"])
    assert policies.may_set_policy(user=admin, company_id=company.id)
    assert policies.may_set_policy(user=client_user, company_id=company.id)
    assert not policies.may_set_policy(user=client_user, company_id=other.id)
    assert not policies.may_set_policy(user=operator, company_id=company.id)
