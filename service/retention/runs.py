"""Runs of the purge: one a night in the worker, or one by hand with `relay purge`.

A run goes a batch at a time, each batch its own transaction, so intake never waits long
behind it; where it has got is kept in its row, so a restart goes on from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service import clock
from service.audit import service as audit
from service.audit.service import Action, Actor
from service.companies.models import Company
from service.retention.models import KINDS, PurgeRun
from service.retention.purge import companies_after, expired_counts, purge_some, retention_of

# Records gone through (deleted, or memos passed over) in one transaction, and companies
# looked at in one, at most.
BATCH = 200
COMPANIES_PER_BATCH = 20


@dataclass(frozen=True)
class Purged:
    """What a run deleted of one company's records, by kind."""

    company_id: str
    slug: str
    counts: dict[str, int]


def start_run(*, session: Session, started_by: str, night: date | None = None) -> PurgeRun:
    """A new run of the purge, not yet begun."""
    run = PurgeRun(night=night, started_by=started_by[:320], started_at=clock.now())
    session.add(run)
    session.flush()
    return run


def purge_batch(
    *,
    session: Session,
    run: PurgeRun,
    actor: Actor,
    batch: int = BATCH,
    companies: int = COMPANIES_PER_BATCH,
) -> tuple[int, list[Purged]]:
    """Go on with a run for one batch; the work done (0 once it is over) and companies finished.

    Retention is reckoned from when the run started, so every batch of it agrees on what has
    expired. Each company finished with something deleted is audited once, with its counts.
    """
    if run.finished_at is not None:
        return 0, []
    removed = looked_at = 0
    finished: list[Purged] = []
    while removed < batch and looked_at < companies:
        state = dict(run.company)
        if not state:
            chunk = companies - looked_at
            candidates = companies_after(session=session, company_id=run.done_through, limit=chunk)
            company = None
            for candidate in candidates:
                looked_at += 1
                if retention_of(candidate) is not None:
                    company = candidate
                    break
                run.done_through = candidate.id
            if company is None:
                if len(candidates) < chunk:
                    run.finished_at = clock.now()
                    looked_at += 1
                    break
                continue
            state = {"id": company.id}
        else:
            company = session.get(Company, state["id"])
            assert company is not None  # companies are never deleted
        retention = retention_of(company)
        if retention is None:
            # Its retention was taken out during the run: nothing more of it expires.
            state["kind"] = "done"
        else:
            removed += purge_some(
                session=session,
                company_id=company.id,
                retention=retention,
                now=run.started_at,
                state=state,
                limit=batch - removed,
            )
        if state.get("kind") == "done":
            counts = {kind: int(state.get(kind, 0)) for kind in KINDS}
            if any(counts.values()):
                _audit(session=session, company=company, actor=actor, counts=counts)
                finished.append(Purged(company_id=company.id, slug=company.slug, counts=counts))
            totals = dict(run.counts)
            for kind, count in counts.items():
                totals[kind] = int(totals.get(kind, 0)) + count
            totals["companies"] = int(totals.get("companies", 0)) + 1
            run.counts = totals
            run.done_through = company.id
            state = {}
        run.company = state
    session.add(run)
    session.flush()
    return removed + looked_at, finished


def _audit(*, session: Session, company: Company, actor: Actor, counts: dict[str, int]) -> None:
    audit.record(
        session=session,
        actor=actor,
        action=Action.retention_purged,
        target=f"company:{company.slug}",
        company_id=company.id,
        detail={kind: str(count) for kind, count in counts.items()},
    )


def due_night(*, now: datetime, at: time, zone: ZoneInfo) -> tuple[date, datetime]:
    """The latest night whose purge time has come by `now`, and that moment."""
    night = now.astimezone(zone).date()
    moment = datetime.combine(night, at, tzinfo=zone)
    if moment > now:
        night -= timedelta(days=1)
        moment = datetime.combine(night, at, tzinfo=zone)
    return night, moment


def _unfinished_nightly(*, session: Session) -> PurgeRun | None:
    return session.exec(
        select(PurgeRun)
        .where(col(PurgeRun.night).is_not(None), col(PurgeRun.finished_at).is_(None))
        .order_by(col(PurgeRun.started_at))
        .limit(1)
        # Another dispatcher going on with it right now: leave it to that one.
        .with_for_update(skip_locked=True)
    ).first()


def _run_of(*, session: Session, night: date) -> str | None:
    return session.exec(select(PurgeRun.id).where(PurgeRun.night == night)).first()


def nightly_batch(
    *, session: Session, at: time, zone: ZoneInfo, worker: str, batch: int = BATCH
) -> int:
    """One batch of the night's purge, starting it when its time has come; 0 when none is due.

    A night's run is started once: after a restart its run goes on, and a finished run is
    not run again that night.
    """
    run = _unfinished_nightly(session=session)
    if run is None:
        night, _ = due_night(now=clock.now(), at=at, zone=zone)
        if _run_of(session=session, night=night) is not None:
            return 0
        try:
            with session.begin_nested():
                run = start_run(session=session, started_by=worker, night=night)
        except IntegrityError:
            return 0  # another dispatcher started it a moment ago
    progress, _ = purge_batch(session=session, run=run, actor=audit.SYSTEM_ACTOR, batch=batch)
    return progress


def next_nightly(*, session: Session, at: time, zone: ZoneInfo) -> datetime | None:
    """When the nightly purge next has work to do: now while a run is under way."""
    now = clock.now()
    if _unfinished_nightly(session=session) is not None:
        return now
    night, moment = due_night(now=now, at=at, zone=zone)
    if _run_of(session=session, night=night) is None:
        return moment
    return datetime.combine(night + timedelta(days=1), at, tzinfo=zone)


def dry_run(*, session: Session) -> list[Purged]:
    """What a purge now would delete of each company with retention; deletes nothing."""
    now = clock.now()
    found: list[Purged] = []
    after: str | None = None
    while chunk := companies_after(session=session, company_id=after, limit=100):
        for company in chunk:
            retention = retention_of(company)
            if retention is not None:
                counts = expired_counts(
                    session=session, company_id=company.id, retention=retention, now=now
                )
                found.append(Purged(company_id=company.id, slug=company.slug, counts=counts))
        after = chunk[-1].id
    return found
