"""Memos shaped as the API returns them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from service.auth.models import User
from service.calls.models import Call
from service.channels import Channel
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.delivery_queue import DELIVERY_ORDER
from service.dispatch.models import Delivery
from service.intake.service import TakenMemo
from service.memos.models import Memo
from service.memos.resolutions import MemoResolution, latest_resolutions
from service.memos.schema import (
    Acknowledgement,
    DeliveryOut,
    MemoCaller,
    MemoOut,
    Resolution,
    SkippedContact,
)
from service.phones import display_for


def memo_out(*, session: Session, memo: Memo, company: Company) -> MemoOut:
    """The JSON shape of CONTRACT §5 for one memo."""
    return memos_out(session=session, rows=[(memo, company)])[0]


def memos_out(*, session: Session, rows: Sequence[tuple[Memo, Company]]) -> list[MemoOut]:
    """The JSON shapes of many memos, with their calls, operators and deliveries in 3 reads."""
    memo_ids = [memo.id for memo, _ in rows]
    call_ids = {memo.call_id for memo, _ in rows if memo.call_id}
    operator_ids = {memo.operator_id for memo, _ in rows}
    call_sids: dict[str, str] = {}
    if call_ids:
        call_sids = dict(
            session.exec(select(Call.id, Call.call_sid).where(col(Call.id).in_(call_ids))).all()
        )
    operators = dict(
        session.exec(select(User.id, User.display_name).where(col(User.id).in_(operator_ids))).all()
    )
    deliveries: dict[str, list[Delivery]] = defaultdict(list)
    if memo_ids:
        for delivery in session.exec(
            select(Delivery).where(col(Delivery.memo_id).in_(memo_ids)).order_by(*DELIVERY_ORDER)
        ):
            if delivery.memo_id is not None:  # always: selected by memo
                deliveries[delivery.memo_id].append(delivery)
    resolutions = latest_resolutions(session=session, memo_ids=memo_ids)
    return [
        _shape(
            memo=memo,
            company=company,
            call_sid=call_sids.get(memo.call_id) if memo.call_id else None,
            operator_name=operators.get(memo.operator_id, ""),
            deliveries=deliveries[memo.id],
            resolution=resolutions.get(memo.id),
        )
        for memo, company in rows
    ]


def taken_memo_out(*, session: Session, taken: TakenMemo, operator: User) -> MemoOut:
    """The answer to the operator who took a memo; a new one is shown from what was written."""
    if taken.deliveries is None:
        return memo_out(session=session, memo=taken.memo, company=taken.company)
    return _shape(
        memo=taken.memo,
        company=taken.company,
        call_sid=taken.call.call_sid if taken.call else None,
        operator_name=operator.display_name,
        # As memo_out would read them back (created together, so by contact and channel).
        deliveries=sorted(taken.deliveries, key=lambda d: (d.contact_key, d.channel, d.id)),
    )


def _shape(
    *,
    memo: Memo,
    company: Company,
    call_sid: str | None,
    operator_name: str,
    deliveries: Sequence[Delivery],
    resolution: MemoResolution | None = None,
) -> MemoOut:
    acknowledged = None
    if memo.acknowledged_at is not None:
        acknowledged = Acknowledgement(
            at=memo.acknowledged_at.isoformat(),
            by=memo.acknowledged_by,
            via=memo.acknowledged_via,
            recorded_by=memo.acknowledged_recorded_by,
        )
    country = company_config(company).country
    return MemoOut(
        id=memo.id,
        client=company.slug,
        client_name=company.name,
        status=memo.status.value,
        created_at=memo.created_at.isoformat(),
        updated_at=memo.updated_at.isoformat(),
        ack_code=memo.ack_code,
        acknowledged=acknowledged,
        call_sid=call_sid,
        category=memo.category.value,
        urgency=memo.urgency.value,
        caller=MemoCaller(
            name=memo.caller_name,
            phone=memo.caller_phone,
            phone_display=display_for(memo.caller_phone, country=country),
            company=memo.caller_company,
        ),
        subject=memo.subject,
        body=memo.body,
        fields=dict(memo.fields),
        script_version=memo.company_version,
        operator=operator_name,
        deliveries=[delivery_out(d, country=country) for d in deliveries],
        skipped=[SkippedContact.model_validate(skip) for skip in memo.skipped],
        resolution=resolution_out(resolution) if resolution is not None else None,
        resolved_at=memo.resolved_at.isoformat() if memo.resolved_at else None,
        follow_up_due=memo.follow_up_due.isoformat() if memo.follow_up_due else None,
        time_to_acknowledge_seconds=_seconds(memo.created_at, memo.acknowledged_at),
        time_to_resolve_seconds=_seconds(memo.created_at, memo.resolved_at),
    )


def resolution_out(resolution: MemoResolution) -> Resolution:
    """A recorded resolution as the memo shows it."""
    return Resolution(
        response=resolution.response,
        cause=resolution.cause,
        result=resolution.result,
        resolved=resolution.resolved,
        at=resolution.at.isoformat(),
        by=resolution.by,
    )


def _seconds(start: datetime, end: datetime | None) -> int | None:
    """Whole seconds from `start` to `end`; None while `end` has not happened."""
    return int((end - start).total_seconds()) if end is not None else None


def delivery_out(delivery: Delivery, *, country: str) -> DeliveryOut:
    """One delivery as CONTRACT §5 shows it; a number it goes to is shown as written in
    `country` (the company's)."""
    return DeliveryOut(
        id=delivery.id,
        channel=delivery.channel.value,
        to=delivery.to,
        to_display=to_display(delivery, country=country),
        contact=delivery.contact_key,
        status=delivery.status.value,
        attempts=delivery.attempts,
        provider_id=delivery.provider_id,
        error=delivery.error,
        reason=delivery.reason.value,
        due_at=delivery.due_at.isoformat(),
    )


def to_display(delivery: Delivery, *, country: str) -> str:
    """Where a delivery goes, as people read it: an address as is, a number as written in
    `country`."""
    if delivery.channel == Channel.email:
        return delivery.to
    return display_for(delivery.to, country=country)
