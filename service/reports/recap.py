"""The daily recap: once a local day, at the company's chosen time, to whoever opted in.

Each recap sent is a row of `daily_recaps` (company, local day), unique for the real ones, so
a day's recap goes out once whichever dispatcher gets there first and a restart does not send
it again. A day's recap is owed from its `recap.at` until that local day ends: a worker that
was down at 18:00 and is back at 18:30 sends it then, but one down until the next morning
does not send yesterday's (the next recap lists whatever is still open anyway).

Its deliveries carry no memo: they point at their recap, bring their words when queued, and
are reports (`DeliveryReason.recap`), so no memo's status, fallback or events hang on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Date, Index, and_, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Column, Field, Session, SQLModel, col, delete, func, or_, select

from service import clock
from service.channels import Channel
from service.companies.config import CompanyConfig
from service.companies.models import Company, CompanyTestSend
from service.companies.service import company_config
from service.db import UTCDateTime, new_id
from service.dispatch import delivery_queue
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import Delivery, DeliveryReason
from service.memos.models import Memo, Urgency
from service.messages.recap import RecapFacts, RecapMemo, RecapState, recap_card, recap_email
from service.providers.base import ChatEvent, ChatPayload
from service.routing.service import Recipient
from service.settings import Settings

log = logging.getLogger(__name__)

# The open memos a recap lists one by one; the rest are counted.
OPEN_LISTED = 20
# A recap lists every memo of its day; past this many the rest are counted as still open.
DAY_LISTED = 500
# A recap that could not be made is tried again this much later, so it never holds up the
# dispatcher's other steps pass after pass.
RETRY_AFTER = timedelta(minutes=5)


class DailyRecap(SQLModel, table=True):
    """A recap sent: the company's local day, when, and what it counted."""

    __tablename__ = "daily_recaps"
    __table_args__ = (
        # One real recap per company and local day; test sends are as many as asked for.
        Index(
            "ux_daily_recaps_company_day",
            "company_id",
            "day",
            unique=True,
            postgresql_where=text("NOT test"),
            sqlite_where=text("NOT test"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    company_id: str = Field(foreign_key="companies.id", index=True, max_length=32)
    day: date = Field(sa_column=Column(Date, nullable=False))
    # A test an admin asked for (who), sent at once and leaving the day's recap still owed.
    test: bool = False
    requested_by: str | None = Field(default=None, max_length=320)
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    memos: int = 0
    urgent: int = 0
    unconfirmed: int = 0
    still_open: int = 0
    recipients: int = 0


def recap_recipients(*, config: CompanyConfig) -> list[Recipient]:
    """Who opted in: contacts with an email, by email; destinations on their platform."""
    found = [
        Recipient(contact.key, Channel.email, contact.email)
        for contact in config.contacts
        if contact.recap and contact.email
    ]
    found += [
        Recipient(destination.key, Channel(destination.kind), destination.address)
        for destination in config.destinations
        if destination.recap
    ]
    return found


def _zone(config: CompanyConfig) -> ZoneInfo:
    return ZoneInfo(config.recap.timezone if config.recap else "Asia/Tokyo")


def recap_moment(*, at: str, zone: ZoneInfo, day: date) -> datetime:
    """When the recap of local `day` falls due: `at` on that day in `zone`."""
    hours, minutes = (int(part) for part in at.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=zone)


def _state(memo: Memo, now: datetime) -> RecapState:
    if memo.resolved_at is not None:
        return RecapState.resolved
    if memo.acknowledged_at is None:
        return RecapState.unconfirmed
    if memo.follow_up_due is not None and memo.follow_up_due <= now:
        return RecapState.overdue
    return RecapState.confirmed


def _recap_memo(memo: Memo, *, names: dict[str, str], now: datetime) -> RecapMemo:
    by = memo.acknowledged_by or ""
    return RecapMemo(
        received_at=memo.created_at,
        code=memo.ack_code,
        caller_name=memo.caller_name,
        caller_phone=memo.caller_phone,
        category=memo.category.value,
        urgent=memo.urgency == Urgency.urgent,
        state=_state(memo, now),
        acknowledged_by=names.get(by, by),
        acknowledged_at=memo.acknowledged_at,
    )


def recap_facts(
    *,
    session: Session,
    company: Company,
    config: CompanyConfig,
    day: date,
    settings: Settings,
) -> RecapFacts:
    """The company's local `day` so far, and every memo of it still open from any day."""
    now = clock.now()
    zone = _zone(config)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    tests = select(CompanyTestSend.memo_id).where(CompanyTestSend.company_id == company.id)
    real = and_(col(Memo.company_id) == company.id, col(Memo.id).not_in(tests))
    todays = session.exec(
        select(Memo)
        .where(real, col(Memo.created_at) >= start, col(Memo.created_at) < end)
        .order_by(col(Memo.created_at), col(Memo.id))
        .limit(DAY_LISTED)
    ).all()
    is_open = or_(
        col(Memo.acknowledged_at).is_(None),
        and_(col(Memo.follow_up_due).is_not(None), col(Memo.resolved_at).is_(None)),
    )
    open_count = session.exec(select(func.count()).select_from(Memo).where(real, is_open)).one()
    still_open = session.exec(
        select(Memo)
        .where(real, is_open)
        .order_by(col(Memo.created_at), col(Memo.id))
        .limit(OPEN_LISTED)
    ).all()
    names = {contact.key: contact.name for contact in config.contacts}
    names.update({destination.key: destination.label for destination in config.destinations})
    return RecapFacts(
        company=company.name,
        locale=config.locale,
        country=config.country,
        zone=zone,
        day=day,
        made_at=now,
        memos=[_recap_memo(memo, names=names, now=now) for memo in todays],
        still_open=[_recap_memo(memo, names=names, now=now) for memo in still_open],
        still_open_count=int(open_count),
        portal_url=f"{settings.public_base_url}/portal",
    )


def _recap_data(*, company: Company, facts: RecapFacts) -> dict[str, Any]:
    """The recap as a webhook event carries it."""
    return {
        "company": company.slug,
        "company_name": company.name,
        "day": facts.day.isoformat(),
        "memos": len(facts.memos),
        "urgent": facts.urgent_count,
        "not_confirmed": facts.unconfirmed_count,
        "still_open": facts.still_open_count,
        "portal_url": facts.portal_url,
    }


def _words(
    *, recipient: Recipient, company: Company, config: CompanyConfig, facts: RecapFacts
) -> dict[str, str | None]:
    """One recipient's delivery columns, fixed when queued."""
    if recipient.channel == Channel.email:
        message = recap_email(facts=facts, contact_name=config.contact(recipient.contact_key).name)
        return {
            "locale": config.locale,
            "subject": message.subject[:500],
            "text": message.text,
            "html": message.html,
            "payload": None,
        }
    card = recap_card(facts=facts)
    payload = ChatPayload(
        event=ChatEvent.recap,
        card=card,
        options=config.destination(recipient.contact_key).options(),
        memo=_recap_data(company=company, facts=facts),
    )
    return {
        "locale": config.locale,
        "subject": card.title[:500],
        "text": card.text,
        "html": None,
        "payload": payload.to_json(),
    }


def _send(
    *,
    session: Session,
    company: Company,
    config: CompanyConfig,
    recap: DailyRecap,
    settings: Settings,
) -> list[Delivery]:
    """Count the day into `recap` and queue one delivery per recipient."""
    recipients = recap_recipients(config=config)
    facts = recap_facts(
        session=session, company=company, config=config, day=recap.day, settings=settings
    )
    rows = enqueue(
        session=session,
        memo=None,
        recap_id=recap.id,
        recipients=recipients,
        reason=DeliveryReason.recap,
        due_at=clock.now(),
        words=[
            _words(recipient=r, company=company, config=config, facts=facts) for r in recipients
        ],
    )
    recap.memos = len(facts.memos)
    recap.urgent = facts.urgent_count
    recap.unconfirmed = facts.unconfirmed_count
    recap.still_open = facts.still_open_count
    recap.recipients = len(rows)
    session.add(recap)
    session.flush()
    return rows


def send_test_recap(
    *, session: Session, company: Company, requested_by: str, settings: Settings
) -> tuple[DailyRecap, list[Delivery]]:
    """Send the company's recap of today so far now, as a test; the day's recap is still owed."""
    config = company_config(company)
    now = clock.now()
    recap = DailyRecap(
        company_id=company.id,
        day=now.astimezone(_zone(config)).date(),
        test=True,
        requested_by=requested_by,
        sent_at=now,
    )
    session.add(recap)
    session.flush()
    rows = _send(session=session, company=company, config=config, recap=recap, settings=settings)
    return recap, rows


@dataclass(frozen=True)
class _Plan:
    """A company that has a recap and someone to receive it."""

    company_id: str
    at: str
    zone: ZoneInfo

    def day(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def moment(self, day: date) -> datetime:
        return recap_moment(at=self.at, zone=self.zone, day=day)


@dataclass
class RecapSchedule:
    """The dispatcher's step that sends each company's recap when due, and its timer.

    Which companies have a recap is read again only when some company changed; which recaps
    went out is learnt from the table, so any number of dispatchers share the work.
    """

    settings: Settings
    _seen: tuple[int, datetime | None] | None = None
    _plans: list[_Plan] = field(default_factory=list)
    # Recaps found in the table: sent for good, never looked up again.
    _sent: set[tuple[str, date]] = field(default_factory=set)
    # Recaps that failed, and when they are tried again.
    _held: dict[tuple[str, date], datetime] = field(default_factory=dict)

    def _refresh(self, session: Session) -> list[_Plan]:
        count, changed = session.exec(
            select(func.count(), func.max(Company.updated_at)).select_from(Company)
        ).one()
        seen = (int(count), changed)
        if seen == self._seen:
            return self._plans
        plans = []
        for company in session.exec(select(Company).order_by(col(Company.id))).all():
            try:
                config = company_config(company)
            except ValidationError:
                continue  # a stored document no longer valid sends nothing until fixed
            if config.recap is not None and recap_recipients(config=config):
                plans.append(_Plan(company.id, config.recap.at, _zone(config)))
        self._seen, self._plans = seen, plans
        return plans

    def next_due(self, session: Session) -> datetime | None:
        """When the next recap falls due; a past moment while one is owed."""
        now = clock.now()
        moments = []
        for plan in self._refresh(session):
            day = plan.day(now)
            if (plan.company_id, day) in self._sent:
                moments.append(plan.moment(day + timedelta(days=1)))
            else:
                held = self._held.get((plan.company_id, day))
                moments.append(max(plan.moment(day), held) if held else plan.moment(day))
        return min(moments) if moments else None

    def send_due(self, session: Session) -> int:
        """Send every recap owed now; how many were sent."""
        now = clock.now()
        owed = {
            (plan.company_id, plan.day(now))
            for plan in self._refresh(session)
            if plan.moment(plan.day(now)) <= now
        } - self._sent
        if not owed:
            return 0
        found = session.exec(
            select(col(DailyRecap.company_id), col(DailyRecap.day)).where(
                col(DailyRecap.company_id).in_(sorted({company for company, _ in owed})),
                col(DailyRecap.day).in_(sorted({day for _, day in owed})),
                col(DailyRecap.test).is_(False),
            )
        ).all()
        self._sent.update((company_id, day) for company_id, day in found)
        sent = 0
        for company_id, day in sorted(owed - self._sent):
            if self._held.get((company_id, day), now) > now:
                continue
            try:
                with session.begin_nested():
                    made = send_recap(
                        session=session, company_id=company_id, day=day, settings=self.settings
                    )
            except Exception:
                log.exception(
                    "the recap of company %s for %s failed; trying again", company_id, day
                )
                self._held[(company_id, day)] = now + RETRY_AFTER
                continue
            sent += int(made)
        return sent


def send_recap(*, session: Session, company_id: str, day: date, settings: Settings) -> bool:
    """Send the company's recap of local `day` unless it was sent; True if this call sent it."""
    company = session.get(Company, company_id)
    if company is None:
        return False
    try:
        config = company_config(company)
    except ValidationError:
        return False
    if config.recap is None or not recap_recipients(config=config):
        return False
    recap = DailyRecap(company_id=company.id, day=day, sent_at=clock.now())
    try:
        # The unique row is the claim: a dispatcher that loses the race sends nothing.
        with session.begin_nested():
            session.add(recap)
            session.flush()
    except IntegrityError:
        return False
    _send(session=session, company=company, config=config, recap=recap, settings=settings)
    _forget_expired(session=session, company_id=company.id, config=config, day=day)
    return True


def _forget_expired(*, session: Session, company_id: str, config: CompanyConfig, day: date) -> None:
    # Recaps name callers as memos do, so they are kept no longer than the company's memos;
    # the nightly purge cannot reach them (it sits beside reports, not above them).
    if config.retention is None or config.retention.memo_days is None:
        return
    oldest_kept = day - timedelta(days=config.retention.memo_days)
    expired = list(
        session.exec(
            select(DailyRecap.id).where(
                DailyRecap.company_id == company_id, col(DailyRecap.day) < oldest_kept
            )
        ).all()
    )
    if expired:
        delivery_queue.delete_for_recaps(session=session, recap_ids=expired)
        session.exec(delete(DailyRecap).where(col(DailyRecap.id).in_(expired)))
