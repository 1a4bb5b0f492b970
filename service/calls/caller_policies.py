"""How a company wants one caller handled: a standing instruction and a time limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service import clock
from service.audit import service as audit
from service.audit.service import Action, Actor
from service.auth.models import Role, User
from service.db import UTCDateTime, new_id
from service.errors import Invalid
from service.i18n import N_

POLICY_MAX = 500
LIMIT_MIN, LIMIT_MAX = 1, 120


class CallerPolicy(SQLModel, table=True):
    """The one instruction a company gives for a caller, shown when they call it."""

    __tablename__ = "caller_policies"
    __table_args__ = (UniqueConstraint("company_id", "phone"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    company_id: str = Field(foreign_key="companies.id", max_length=32)
    phone: str = Field(max_length=32)
    text: str = Field(max_length=POLICY_MAX)
    # Minutes an operator may spend on the call; None when the company sets no limit.
    time_limit_minutes: int | None = Field(default=None)
    set_by: str = Field(foreign_key="users.id", max_length=32)
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CallerPolicyError(Invalid):
    """A caller policy that cannot be set as asked."""


def may_set_policy(*, user: User, company_id: str) -> bool:
    """Whether `user` may set or clear a company's policy: an admin, or the company's own."""
    return user.role == Role.admin or (user.role == Role.client and user.company_id == company_id)


def caller_policy(*, session: Session, company_id: str, phone: str) -> CallerPolicy | None:
    """The company's policy for this caller, if it set one."""
    return session.exec(
        select(CallerPolicy).where(
            col(CallerPolicy.company_id) == company_id, col(CallerPolicy.phone) == phone
        )
    ).first()


def caller_policies(*, session: Session, phone: str) -> list[CallerPolicy]:
    """Every company's policy for this caller, most recently set first."""
    return list(
        session.exec(
            select(CallerPolicy)
            .where(col(CallerPolicy.phone) == phone)
            .order_by(col(CallerPolicy.set_at).desc(), col(CallerPolicy.id))
        ).all()
    )


def set_caller_policy(
    *,
    session: Session,
    company_id: str,
    phone: str,
    text: str,
    time_limit_minutes: int | None,
    actor: Actor,
) -> CallerPolicy:
    """Give (or replace) a company's instruction for a caller; audited."""
    text = text.strip()
    if not text:
        raise CallerPolicyError(
            N_("Say how this caller is to be handled."), field="text", code="missing"
        )
    if len(text) > POLICY_MAX:
        raise CallerPolicyError(
            N_("A policy is at most %(max)d characters."),
            field="text",
            code="too_long",
            max=POLICY_MAX,
        )
    if time_limit_minutes is not None and not LIMIT_MIN <= time_limit_minutes <= LIMIT_MAX:
        raise CallerPolicyError(
            N_("A time limit is from %(min)d to %(max)d minutes."),
            field="time_limit_minutes",
            code="out_of_range",
            min=LIMIT_MIN,
            max=LIMIT_MAX,
        )
    assert actor.user_id is not None  # policies are set by people
    policy = caller_policy(session=session, company_id=company_id, phone=phone)
    if policy is None:
        policy = CallerPolicy(
            company_id=company_id, phone=phone, text="", set_by=actor.user_id, set_at=clock.now()
        )
    policy.text = text
    policy.time_limit_minutes = time_limit_minutes
    policy.set_by = actor.user_id
    policy.set_at = clock.now()
    try:
        with session.begin_nested():
            session.add(policy)
    except IntegrityError:
        # Someone set one at this very moment: theirs is replaced, as a later set would.
        existing = caller_policy(session=session, company_id=company_id, phone=phone)
        assert existing is not None
        existing.text, existing.time_limit_minutes = policy.text, policy.time_limit_minutes
        existing.set_by, existing.set_at = policy.set_by, policy.set_at
        policy = existing
        session.add(policy)
    session.flush()
    _audit(session=session, policy=policy, actor=actor, action=Action.caller_policy_set)
    return policy


def clear_caller_policy(
    *, session: Session, company_id: str, phone: str, actor: Actor
) -> CallerPolicy | None:
    """Withdraw a company's instruction for a caller; the one withdrawn, if there was one."""
    policy = caller_policy(session=session, company_id=company_id, phone=phone)
    if policy is None:
        return None
    _audit(session=session, policy=policy, actor=actor, action=Action.caller_policy_cleared)
    session.delete(policy)
    session.flush()
    return policy


def _audit(*, session: Session, policy: CallerPolicy, actor: Actor, action: Action) -> None:
    detail = {"text": policy.text[:200]}
    if policy.time_limit_minutes is not None:
        detail["time_limit_minutes"] = str(policy.time_limit_minutes)
    audit.record(
        session=session,
        actor=actor,
        action=action,
        target=f"caller:{policy.phone}",
        company_id=policy.company_id,
        detail=detail,
    )
