"""Escalation timers: once, never early, never after an acknowledgement, and after a restart."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.acks.service import AckVia, acknowledge
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.dispatch import delivery_queue
from service.escalation.models import CallbackTask, EscalationFiring, TaskStatus
from service.escalation.service import fire_due, firings_of
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import make_company

# The default test company: after 15m the director by SMS; after 45m an operator callback.


def fire(session: Session, worker: str = "w1") -> int:
    fired = fire_due(session=session, worker=worker)
    session.commit()
    return fired


def test_first_timer_is_set_with_the_memo(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    assert memo.next_escalation_at == memo.created_at + timedelta(minutes=15)


def test_a_step_never_fires_early_and_fires_once(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)

    clock.advance(timedelta(minutes=14, seconds=59))
    assert fire(session) == 0
    clock.advance(timedelta(seconds=1))
    assert fire(session) == 1
    assert fire(session) == 0

    [firing] = firings_of(session=session, memo_id=memo.id)
    assert (firing.step, firing.action, firing.due_at) == (
        0,
        "notify",
        memo.created_at + timedelta(minutes=15),
    )
    escalated = [
        d
        for d in delivery_queue.deliveries_of(session=session, memo_id=memo.id)
        if d.reason.value == "escalation"
    ]
    assert [(d.contact_key, d.channel.value, d.to) for d in escalated] == [
        ("director", "sms", "+819012345678")
    ]
    session.refresh(memo)
    assert memo.next_escalation_at == memo.created_at + timedelta(minutes=45)


def test_the_callback_step_opens_a_task_for_an_operator(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    clock.advance(timedelta(minutes=45))
    assert fire(session) == 1  # the 15-minute step
    assert fire(session) == 1  # then the 45-minute one, both already due

    [task] = session.exec(select(CallbackTask)).all()
    assert (task.memo_id, task.contact_key, task.phone, task.status) == (
        memo.id,
        "director",
        "+819012345678",
        TaskStatus.open,
    )
    session.refresh(memo)
    assert memo.next_escalation_at is None


def test_nothing_fires_after_an_acknowledgement(
    session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    clock.advance(timedelta(minutes=10))
    acknowledge(session=session, memo_id=memo.id, by="director", via=AckVia.link)
    session.commit()

    clock.advance(timedelta(hours=3))
    assert fire(session) == 0
    assert firings_of(session=session, memo_id=memo.id) == []


def test_steps_overdue_while_down_fire_once_after_a_restart(
    engine: Engine, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memo = take_memo(session, operator)
    clock.advance(timedelta(hours=5))  # nothing ran meanwhile
    with Session(engine) as fresh:  # a new process's view: only the database remembers
        while fire(fresh, worker="after-restart"):
            pass
    assert [f.step for f in firings_of(session=session, memo_id=memo.id)] == [0, 1]


def test_urgent_memos_use_the_shorter_delay(
    session: Session, operator: User, clock: ManualClock
) -> None:
    make_company(
        session,
        escalation=[
            {"after": "30m", "urgent_after": "5m", "notify": ["director"], "channels": ["sms"]}
        ],
    )
    normal = take_memo(session, operator)
    urgent = take_memo(session, operator, urgency="urgent")
    assert urgent.next_escalation_at == urgent.created_at + timedelta(minutes=5)
    assert normal.next_escalation_at == normal.created_at + timedelta(minutes=30)


@pytest.mark.postgres_only
def test_an_acknowledgement_racing_the_deadline_wins_or_loses_cleanly(
    engine: Engine, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    for _ in range(20):
        memo = take_memo(session, operator)
        clock.advance(timedelta(minutes=15))

        def ack(memo_id: str = memo.id) -> None:
            with Session(engine) as s:
                acknowledge(session=s, memo_id=memo_id, by="director", via=AckVia.link)
                time.sleep(0.01)
                s.commit()

        def escalate() -> None:
            with Session(engine) as s:
                fire_due(session=s, worker="racer")
                s.commit()

        threads = [threading.Thread(target=ack), threading.Thread(target=escalate)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        session.expire_all()
        fired = firings_of(session=session, memo_id=memo.id)
        stored = session.get(Memo, memo.id)
        assert stored is not None and stored.acknowledged_at is not None
        # Either the step fired before the acknowledgement committed, or it never fires.
        for firing in fired:
            assert firing.fired_at <= stored.acknowledged_at
        with Session(engine) as s:
            assert fire_due(session=s, worker="later") == 0
            s.commit()


@pytest.mark.postgres_only
def test_two_dispatchers_fire_each_step_once(
    engine: Engine, session: Session, operator: User, company: Company, clock: ManualClock
) -> None:
    memos = [take_memo(session, operator) for _ in range(60)]
    clock.advance(timedelta(minutes=15))

    def work(name: str) -> None:
        with Session(engine) as s:
            while fire_due(session=s, worker=name, limit=5):
                s.commit()
            s.commit()

    threads = [threading.Thread(target=work, args=(f"d{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    firings = session.exec(select(EscalationFiring)).all()
    assert sorted(f.memo_id for f in firings) == sorted(m.id for m in memos)
