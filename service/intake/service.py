"""Taking a memo: written once, complete, with its routing settled and its first deliveries queued.

Above memos and dispatch because it starts both: the memo row and the deliveries that relay
it are written in the operator's one transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from service import clock, events
from service.auth.models import User
from service.calls.models import Call
from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.service import company_config, get_company
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import Delivery, DeliveryReason
from service.i18n import N_
from service.memos.lifecycle import schedule_escalation
from service.memos.models import MEMOS, Memo, MemoStatus, Urgency
from service.memos.schema import MAX_BODY_BYTES, MemoIn
from service.memos.service import MemoError, MemoTooLarge
from service.phones import PhoneNumberError, to_e164
from service.routing.optouts import opted_out_among
from service.routing.service import route_memo

MAX_FIELD_CHARS = 1000


def _custom_fields(*, submitted: dict[str, Any], declared: list[Any]) -> dict[str, str | None]:
    by_key = {field.key: field for field in declared}
    unknown = sorted(set(submitted) - set(by_key))
    if unknown:
        raise MemoError(
            N_("This company has no field %(keys)s."),
            field="fields",
            code="unknown_field",
            keys=", ".join(unknown),
        )
    values: dict[str, str | None] = {}
    for key, field in by_key.items():
        raw = submitted.get(key)
        text = "" if raw is None else str(raw).strip()
        if field.required and not text:
            raise MemoError(
                N_("%(label)s is required."),
                field=f"fields.{key}",
                code="missing",
                label=field.label,
            )
        if len(text) > MAX_FIELD_CHARS:
            raise MemoError(
                N_("%(label)s is too long: at most %(max)s characters."),
                field=f"fields.{key}",
                code="too_long",
                label=field.label,
                max=MAX_FIELD_CHARS,
            )
        if text:
            values[key] = text
    return values


# A code is short enough to read out or type on a phone: 4 digits while the company's open
# memos leave one free, then longer ones. The unique index on open codes decides which is free.
_CODE_DIGITS = (4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 8, 8, 8, 8)


def _draw_code(digits: int) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


@dataclass(frozen=True)
class TakenMemo:
    """A memo just taken, with what the answer to the operator shows of it."""

    memo: Memo
    company: Company
    call: Call | None
    # The deliveries written with a new memo; None for a repeat, whose may have moved on.
    deliveries: list[Delivery] | None

    @property
    def created(self) -> bool:
        return self.deliveries is not None


def create_memo(
    *, session: Session, data: MemoIn, operator: User, idempotency_key: str | None = None
) -> TakenMemo:
    """Take a memo for a company, with its deliveries; a repeated key returns the first memo."""
    # An empty key is no key: a repeat is never looked up by it, so a second memo sent with
    # it would meet the unique (operator, key) with no first memo to answer with.
    idempotency_key = idempotency_key or None
    try:
        return _take(session=session, data=data, operator=operator, idempotency_key=idempotency_key)
    except MemoError:
        # A repeat is answered with the first memo even if its form would be refused today
        # (the company's fields changed since): the operator's memo was taken.
        first = _by_idempotency_key(session=session, operator=operator, key=idempotency_key)
        if first is None:
            raise
        return first


def _take(
    *, session: Session, data: MemoIn, operator: User, idempotency_key: str | None
) -> TakenMemo:
    """A new memo with its deliveries, or the first one this operator's key already took."""
    if len(data.body.encode("utf-8")) > MAX_BODY_BYTES:
        raise MemoTooLarge(N_("The memo body is over 64 KiB."), field="body")
    company = get_company(session=session, slug=data.client)
    if company is None:
        raise MemoError(
            N_("No client company %(slug)s."),
            field="client",
            code="unknown_client",
            slug=data.client,
        )
    config = company_config(company)
    call = _call_of(session=session, call_sid=data.call_sid, company=company)
    phone = _caller_phone(raw=data.caller.phone, config=config)

    now = clock.now()
    memo = Memo(
        company_id=company.id,
        company_version=call.company_version if call else company.version,
        call_id=call.id if call else None,
        operator_id=operator.id,
        idempotency_key=idempotency_key,
        category=data.category,
        urgency=data.urgency,
        caller_name=data.caller.name,
        caller_phone=phone,
        caller_company=data.caller.company or None,
        subject=data.subject,
        body=data.body.strip(),
        fields=_custom_fields(submitted=data.fields, declared=list(config.fields)),
        status=MemoStatus.relaying,
        ack_code="",  # drawn below, as it is written
        created_at=now,
        updated_at=now,
    )
    # Routing and the first escalation timer are settled before the memo is written, so it
    # is inserted once, complete, rather than inserted and then updated.
    plan = route_memo(
        config=config,
        category=memo.category.value,
        urgency=memo.urgency.value,
        opted_out=lambda phones: opted_out_among(session=session, phones=phones),
    )
    memo.skipped = [skipped.record() for skipped in plan.skipped]
    schedule_escalation(memo=memo, config=config)
    for digits in _CODE_DIGITS:
        memo.ack_code = _draw_code(digits)
        if _insert(session=session, memo=memo):
            break
        # Refused: the key took a memo before (a repeat, or the same form submitted twice at
        # once), or an open memo of the company holds the code, and another is drawn.
        first = _by_idempotency_key(session=session, operator=operator, key=idempotency_key)
        if first is not None:
            return first
    else:
        raise RuntimeError(f"no free ack code for company {company.slug}")
    # Outside the company's hours a normal memo waits for the next opening; urgent ones go now.
    deliveries = enqueue(
        session=session,
        memo=memo,
        recipients=plan.recipients,
        reason=DeliveryReason.routing,
        due_at=now if memo.urgency == Urgency.urgent else config.next_opening(now),
    )
    events.emit(
        session=session,
        type="memo.created",
        data={"id": memo.id, "client": company.slug, "status": memo.status.value},
    )
    return TakenMemo(memo=memo, company=company, call=call, deliveries=deliveries)


# Inserted unless a unique index refuses the row (an open memo of the company holds its code,
# or the operator's Idempotency-Key was used), in one statement rather than a check before it
# or a savepoint around it; the row count tells whether it was written.
_INSERT_NEW: dict[str, Insert] = {
    name: dialect.insert(MEMOS).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _insert(*, session: Session, memo: Memo) -> bool:
    """Write a new, complete memo as one row; False if a unique index refused it."""
    connection = session.connection()
    if not connection.execute(_INSERT_NEW[connection.dialect.name], memo.model_dump()).rowcount:
        return False
    # Kept in the session as if loaded: a later change is an UPDATE, not an INSERT.
    make_transient_to_detached(memo)
    session.add(memo)
    return True


def _call_of(*, session: Session, call_sid: str | None, company: Company) -> Call | None:
    """The call a memo is about, which must have been to `company`."""
    if not call_sid:
        return None
    call = session.exec(select(Call).where(Call.call_sid == call_sid)).first()
    if call is None or call.company_id != company.id:
        raise MemoError(N_("No such call to this company."), field="call_sid", code="unknown_call")
    return call


def _caller_phone(*, raw: str | None, config: CompanyConfig) -> str | None:
    """The caller's number in E.164, read as dialled in the company's country."""
    if not raw:
        return None
    try:
        return to_e164(raw, country=config.country)
    except PhoneNumberError:
        raise MemoError(
            N_("%(number)s is not a phone number; check it."),
            field="caller.phone",
            code="bad_phone",
            number=raw,
        ) from None


def _by_idempotency_key(*, session: Session, operator: User, key: str | None) -> TakenMemo | None:
    """The memo this operator already took with this key, if any."""
    if not key:
        return None
    row = session.exec(
        select(Memo, Company)
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(Memo.operator_id == operator.id, Memo.idempotency_key == key)
    ).first()
    if row is None:
        return None
    memo, company = row
    call = session.get(Call, memo.call_id) if memo.call_id else None
    return TakenMemo(memo=memo, company=company, call=call, deliveries=None)
