"""Answering is a claim: one operator has a call, even when several press at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from service import events
from service.auth.models import Role, User
from service.calls import service as calls
from service.calls.models import Call
from service.companies.models import Company
from service.events import Event, PostgresListener
from tests.factories import make_user


def _ringing(session: Session, company: Company, sid: str = "SIMrace") -> Call:
    call, _ = calls.record_inbound_call(
        session=session,
        company=company,
        call_sid=sid,
        from_number="+819011112222",
        to_number="+815012345678",
        source="simulated",
    )
    session.commit()
    return call


def _operators(session: Session, count: int) -> list[User]:
    return [
        make_user(session, email=f"op{n}@relay.example", role=Role.operator) for n in range(count)
    ]


def _answer(engine: Engine, call_id: str, operator_id: str) -> str:
    """Answer in a transaction of its own, as a request would; who ended up with the call."""
    with Session(engine) as session:
        try:
            calls.answer_call(session=session, call_id=call_id, operator_id=operator_id)
        except calls.CallTaken:
            session.rollback()
            return "taken"
        session.commit()
        return "won"


def test_the_first_answer_keeps_the_call_and_a_repeat_is_harmless(
    session: Session, sakura: Company
) -> None:
    first, second = _operators(session, 2)
    call = _ringing(session, sakura)

    answered = calls.answer_call(session=session, call_id=call.id, operator_id=first.id)
    session.commit()
    assert (answered.answered_by, answered.status) == (first.id, "in-progress")
    again = calls.answer_call(session=session, call_id=call.id, operator_id=first.id)
    session.commit()
    assert again.answered_by == first.id

    with pytest.raises(calls.CallTaken) as taken:
        calls.answer_call(session=session, call_id=call.id, operator_id=second.id)
    session.rollback()
    assert taken.value.operator_name == first.display_name
    with pytest.raises(calls.CallNotFound):
        calls.answer_call(session=session, call_id="nope", operator_id=first.id)


def test_operators_pressing_answer_at_once_leave_the_call_with_exactly_one(
    engine: Engine, session: Session, sakura: Company
) -> None:
    operator_ids = [operator.id for operator in _operators(session, 4)]
    for round_no in range(3):
        call = _ringing(session, sakura, sid=f"SIMrace{round_no}")
        start = threading.Barrier(len(operator_ids))
        results: dict[str, str] = {}
        threads = [
            threading.Thread(target=_press, args=(start, engine, call.id, operator_id, results))
            for operator_id in operator_ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        winners = [operator_id for operator_id, result in results.items() if result == "won"]
        assert len(winners) == 1, results
        assert sorted(results.values()) == ["taken"] * (len(operator_ids) - 1) + ["won"]
        stored = session.get(Call, call.id, populate_existing=True)
        assert stored is not None and stored.answered_by == winners[0]
        session.commit()  # on SQLite, a read holds the write lock until then


def _press(
    start: threading.Barrier,
    engine: Engine,
    call_id: str,
    operator_id: str,
    results: dict[str, str],
) -> None:
    start.wait()
    results[operator_id] = _answer(engine, call_id, operator_id)


@pytest.mark.postgres_only
def test_an_answer_waiting_on_another_sees_it_committed_and_is_refused(
    engine: Engine, session: Session, sakura: Company
) -> None:
    """Two connections: the second UPDATE waits on the first's row lock, then finds it taken."""
    first, second = _operators(session, 2)
    call = _ringing(session, sakura)

    holder = Session(engine)
    outcome: list[str] = []
    waiting = threading.Thread(target=lambda: outcome.append(_answer(engine, call.id, second.id)))
    try:
        calls.answer_call(session=holder, call_id=call.id, operator_id=first.id)  # uncommitted
        waiting.start()
        # Until the second connection is seen waiting for the row, the race is not on.
        blocked = _wait_for_a_lock_wait(engine)
        assert outcome == []
        holder.commit()
    finally:
        holder.close()  # never leave the row locked, even when an assertion failed
    waiting.join(timeout=10)

    assert blocked == 1
    assert outcome == ["taken"]
    session.expire_all()
    stored = session.get(Call, call.id)
    assert stored is not None and stored.answered_by == first.id


def _wait_for_a_lock_wait(engine: Engine) -> int:
    """How many connections wait for a lock, once one does (or after ten seconds)."""
    deadline = time.monotonic() + 10
    with engine.connect() as watcher:
        while True:
            blocked = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
            watcher.rollback()
            if blocked or time.monotonic() > deadline:
                return int(blocked)
            time.sleep(0.02)


def test_ending_a_call_is_for_whoever_answered_it_or_a_supervisor(
    session: Session, sakura: Company
) -> None:
    first, second = _operators(session, 2)
    unanswered = _ringing(session, sakura, sid="SIMnobody")
    ended = calls.end_call(
        session=session, call_id=unanswered.id, operator_id=second.id, supervisor=False
    )
    assert ended.status == "completed"  # nobody had it: anyone may stop it ringing
    session.commit()

    call = _ringing(session, sakura)
    calls.answer_call(session=session, call_id=call.id, operator_id=first.id)
    session.commit()
    with pytest.raises(calls.CallTaken) as taken:
        calls.end_call(session=session, call_id=call.id, operator_id=second.id, supervisor=False)
    session.rollback()
    assert taken.value.operator_name == first.display_name
    by_supervisor = calls.end_call(
        session=session, call_id=call.id, operator_id=second.id, supervisor=True
    )
    assert by_supervisor.status == "completed"
    session.commit()


async def test_call_events_name_the_operator_who_answered(
    engine: Engine, session: Session, sakura: Company
) -> None:
    listener = None
    if engine.dialect.name == "postgresql":
        listener = PostgresListener(database_url=engine.url.render_as_string(hide_password=False))
        listener.start()
        await asyncio.wait_for(listener.ready.wait(), timeout=10)
    [operator] = _operators(session, 1)
    try:
        async with events.broker.subscribe() as queue:
            call = await asyncio.to_thread(_ringing, session, sakura)
            ringing = await asyncio.wait_for(queue.get(), timeout=5)
            await asyncio.to_thread(_answer, engine, call.id, operator.id)
            updated = await asyncio.wait_for(queue.get(), timeout=5)
            ended = await asyncio.to_thread(_end, engine, call.id, operator.id)
            finished = await asyncio.wait_for(queue.get(), timeout=5)
    finally:
        if listener:
            await listener.stop()

    assert ringing.type == "call.ringing"
    assert (ringing.data["answered_by"], ringing.data["answered_by_name"]) == (None, None)
    assert updated == Event(
        type="call.updated",
        data={
            "id": call.id,
            "call_sid": call.call_sid,
            "client": "sakura-dental",
            "from": "+819011112222",
            "status": "in-progress",
            "answered_by": operator.id,
            "answered_by_name": operator.display_name,
        },
    )
    assert ended == "completed"
    assert (finished.type, finished.data["status"], finished.data["answered_by_name"]) == (
        "call.updated",
        "completed",
        operator.display_name,
    )


def _end(engine: Engine, call_id: str, operator_id: str) -> str:
    with Session(engine) as session:
        call = calls.end_call(
            session=session, call_id=call_id, operator_id=operator_id, supervisor=False
        )
        session.commit()
        return call.status
