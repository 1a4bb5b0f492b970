"""The first acknowledgement wins; later ones change nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.escalation.models import TaskOutcome, TaskStatus
from service.escalation.service import fire_due
from service.memos.models import MemoStatus
from tests.dispatch.conftest import take_memo


def test_first_acknowledgement_wins(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    clock.advance(timedelta(minutes=3))
    first = acknowledge(session=session, memo_id=memo.id, by="director", via=AckVia.link)
    session.commit()
    clock.advance(timedelta(minutes=1))
    later = acknowledge(session=session, memo_id=memo.id, by="office", via=AckVia.portal)
    session.commit()

    assert first is not None and first.first
    assert later is not None and not later.first
    assert (later.memo.status, later.memo.acknowledged_by, later.memo.acknowledged_via) == (
        MemoStatus.acknowledged,
        "director",
        "link",
    )
    assert later.memo.acknowledged_at == memo.created_at + timedelta(minutes=3)
    assert later.memo.next_escalation_at is None
    assert acknowledge(session=session, memo_id="0" * 32, by="x", via=AckVia.link) is None


def test_acknowledging_closes_open_callback_tasks(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    clock.advance(timedelta(hours=1))
    while fire_due(session=session, worker="w"):
        session.commit()
    acknowledge(session=session, memo_id=memo.id, by="佐藤 院長", via=AckVia.operator)
    session.commit()

    from sqlmodel import select

    from service.escalation.models import CallbackTask

    [task] = session.exec(select(CallbackTask)).all()
    assert (task.status, task.outcome) == (TaskStatus.done, TaskOutcome.acknowledged)
