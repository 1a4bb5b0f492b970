"""The nightly purge: once a night at its time, going on after a restart; and `relay purge`."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from service.audit.models import AuditEntry
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.models import Memo
from service.retention.models import PurgeRun
from service.retention.runs import due_night, next_nightly, nightly_batch
from service.settings import Settings
from service.worker import running_dispatcher
from tests.factories import make_company
from tests.retention.test_purge import RETENTION, closed_memo

TOKYO = ZoneInfo("Asia/Tokyo")
THREE = time(3, 0)


@pytest.fixture
def company(session: Session) -> Company:
    return make_company(session, retention=RETENTION)


def tokyo(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def night_batch(session: Session, *, batch: int = 500) -> int:
    progress = nightly_batch(session=session, at=THREE, zone=TOKYO, worker="w1", batch=batch)
    session.commit()
    return progress


def count(session: Session, model: type[Memo] | type[PurgeRun]) -> int:
    found = int(session.exec(select(func.count()).select_from(model)).one())
    session.commit()
    return found


def test_the_night_is_the_latest_whose_time_has_come() -> None:
    assert due_night(now=tokyo(2027, 1, 6, 3), at=THREE, zone=TOKYO) == (
        date(2027, 1, 6),
        tokyo(2027, 1, 6, 3),
    )
    assert due_night(now=tokyo(2027, 1, 6, 2, 59), at=THREE, zone=TOKYO) == (
        date(2027, 1, 5),
        tokyo(2027, 1, 5, 3),
    )


def test_a_night_is_purged_once_and_its_run_goes_on_after_a_restart(
    session: Session, engine: Engine, operator: User, company: Company, clock: ManualClock
) -> None:
    for _ in range(3):
        closed_memo(session, operator)
    clock.set(tokyo(2027, 1, 6, 3, 0))

    assert night_batch(session, batch=1) > 0
    assert count(session, Memo) == 2
    # A restart: a new session, nothing kept in memory; the night's run goes on.
    with Session(engine, expire_on_commit=False) as after_restart:
        while night_batch(after_restart, batch=1):
            pass
    assert count(session, Memo) == 0
    run = session.exec(select(PurgeRun)).one()
    session.commit()
    assert run.night == date(2027, 1, 6)
    assert run.finished_at is not None
    assert run.counts["memos"] == 3
    audited = session.exec(select(AuditEntry).where(AuditEntry.action == "retention.purged")).all()
    session.commit()
    assert [(entry.actor, entry.detail["memos"]) for entry in audited] == [("system", "3")]

    # Later that night nothing runs again, even with more to purge.
    clock.set(tokyo(2026, 1, 1, 9))
    closed_memo(session, operator)
    clock.set(tokyo(2027, 1, 7, 2, 59))
    assert night_batch(session) == 0
    assert count(session, Memo) == 1
    assert next_nightly(session=session, at=THREE, zone=TOKYO) == tokyo(2027, 1, 7, 3)
    session.commit()

    clock.set(tokyo(2027, 1, 7, 3))
    assert next_nightly(session=session, at=THREE, zone=TOKYO) == tokyo(2027, 1, 7, 3)
    session.commit()
    while night_batch(session):
        pass
    assert count(session, Memo) == 0
    assert count(session, PurgeRun) == 2


def test_companies_are_purged_a_few_at_a_time(
    session: Session, operator: User, clock: ManualClock
) -> None:
    slugs = [f"company-{n:02d}" for n in range(25)]
    for slug in slugs:
        make_company(session, slug=slug, retention={"memo_days": 30})
        closed_memo(session, operator, client=slug)
    clock.advance(timedelta(days=31))

    batches = 0
    while night_batch(session):
        batches += 1
    assert count(session, Memo) == 0
    assert batches >= 2  # 25 companies do not fit one batch of 20
    run = session.exec(select(PurgeRun)).one()
    session.commit()
    assert run.counts["companies"] == 25


async def test_the_worker_purges_at_night(
    engine: Engine,
    session: Session,
    settings: Settings,
    operator: User,
    company: Company,
    clock: ManualClock,
) -> None:
    closed_memo(session, operator)
    clock.set(tokyo(2027, 1, 6, 4))
    async with running_dispatcher(engine=engine, settings=settings):
        for _ in range(100):
            if count(session, PurgeRun) and count(session, Memo) == 0:
                break
            await asyncio.sleep(0.05)
    assert count(session, Memo) == 0
    run = session.exec(select(PurgeRun)).one()
    assert run.night == date(2027, 1, 6)


def test_the_purge_time_is_a_time_of_day(settings: Settings) -> None:
    assert settings.purge_time == time(3, 0)
    assert Settings(purge_at="23:30", _env_file=None).purge_time == time(23, 30)
    for wrong in ("3am", "25:00", "03:00:00", ""):
        with pytest.raises(ValueError, match="HH:MM"):
            Settings(purge_at=wrong, _env_file=None)
    with pytest.raises(ValueError, match="IANA"):
        Settings(purge_timezone="Mars/Olympus", _env_file=None)
