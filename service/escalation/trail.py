"""A memo's whole trail: what was sent to whom and what the provider said, the escalation steps
that fired, the acknowledgement (and which path it came by), the callbacks operators made, and
each account the company gave of how it handled the memo.

A chat destination's delivery is named by the destination's label and platform; an update of
a chat message once the memo was acknowledged is a delivery of its own, naming what it updates."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.audit.service import Action
from service.auth.models import User
from service.channels import Channel, is_chat
from service.companies.config import EscalationStep
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.models import Delivery, DeliveryReason
from service.escalation.models import CallbackTask, EscalationFiring
from service.memos.models import Memo
from service.memos.resolutions import resolutions_of
from service.memos.schema import SkippedContact
from service.phones import display_for

DEFAULT_COUNTRY = "JP"


class TrailDelivery(BaseModel):
    """One delivery to one contact on one channel, or to one chat destination: its attempts and
    the provider's answer.

    Relay keeps the latest answer of each delivery, not one row per attempt: `attempts` says
    how many were made, `attempted_at` when the latest began, and `error`/`error_code` what
    the provider said to it. A failed channel's fallback is a delivery of its own, and so is
    the update of a chat message once the memo was acknowledged (reason `acknowledged`)."""

    id: str
    channel: str
    to: str
    to_display: str
    # The contact's key, or the chat destination's.
    contact: str
    contact_name: str
    # The chat platform (slack, chatwork, …) when this went to a destination; None for a contact.
    platform: str | None = None
    reason: str
    status: str
    attempts: int
    provider_id: str | None
    error: str | None
    error_code: str | None
    created_at: str
    due_at: str
    attempted_at: str | None
    sent_at: str | None
    delivered_at: str | None
    updated_at: str
    # An update: the platform's id of the message it edits, and the delivery that posted it.
    replaces: str | None = None
    update_of: str | None = None


class TrailRecipient(BaseModel):
    """Whom an escalation step sent the memo to, and on which channel."""

    delivery_id: str
    contact: str
    contact_name: str
    channel: str
    to_display: str
    status: str
    platform: str | None = None


class TrailEscalation(BaseModel):
    """An escalation step that fired for the memo."""

    # 1 for the company's first step.
    step: int
    action: str
    due_at: str
    fired_at: str
    fired_by: str
    recipients: list[TrailRecipient]
    # The callback an `operator_callback` step opened.
    callback_id: str | None


class TrailAcknowledgement(BaseModel):
    """Who confirmed the memo, how, and when."""

    at: str
    by: str | None
    # `by` as people know them: the contact's name when it is a contact's key.
    by_name: str
    # The path that won: link, sms, voice, portal, operator, or a chat platform (slack,
    # chatwork, line, lineworks) whose button, postback or reply was answered first.
    via: str | None
    # The Relay user who entered the acknowledgement (an operator recording a phone call,
    # a client user on the portal), when one did; None for a link, SMS or key press.
    recorded_by: str | None


class TrailCallback(BaseModel):
    """A callback an operator owed the company about the memo, and how it ended."""

    id: str
    status: str
    contact: str | None
    contact_name: str
    phone: str | None
    phone_display: str
    due_at: str
    created_at: str
    taken_by: str | None
    taken_at: str | None
    outcome: str | None
    note: str | None
    attempts: int
    updated_at: str


class TrailResolution(BaseModel):
    """One account the company gave of how it handled the memo (each is kept)."""

    at: str
    response: str
    cause: str
    result: str
    resolved: bool
    by: str
    # The path it came by: link, portal, or operator (staff recording it for the company).
    via: str
    # The Relay user who entered it, when one did; None for the acknowledgement link.
    recorded_by: str | None


class MemoTrail(BaseModel):
    """Everything that happened to a memo after it was taken, in order."""

    memo_id: str
    client: str
    status: str
    created_at: str
    deliveries: list[TrailDelivery]
    skipped: list[SkippedContact]
    escalations: list[TrailEscalation]
    acknowledgement: TrailAcknowledgement | None
    callbacks: list[TrailCallback]
    resolutions: list[TrailResolution] = []


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _within(moment: datetime, start: datetime, end: datetime | None) -> bool:
    return moment >= start and (end is None or moment < end)


def _company_terms(company: Company) -> tuple[str, dict[str, str], list[EscalationStep]]:
    """The company's country, its contacts' and destinations' names and its escalation steps;
    defaults if its configuration is off."""
    try:
        config = company_config(company)
    except ValidationError:
        return DEFAULT_COUNTRY, {}, []
    names = {destination.key: destination.label for destination in config.destinations}
    names.update({contact.key: contact.name for contact in config.contacts})
    return config.country, names, list(config.escalation)


def _replaces(delivery: Delivery) -> str | None:
    """The platform's id of the message an update delivery edits."""
    if delivery.reason != DeliveryReason.acknowledged or not delivery.payload:
        return None
    try:
        found = json.loads(delivery.payload).get("replaces")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def _update_of(delivery: Delivery, deliveries: list[Delivery]) -> str | None:
    """The delivery that posted the message an update edits."""
    replaces = _replaces(delivery)
    if replaces is None:
        return None
    return next(
        (
            d.id
            for d in deliveries
            if d.provider_id == replaces
            and d.contact_key == delivery.contact_key
            and d.channel == delivery.channel
            and d.id != delivery.id
        ),
        None,
    )


def memo_trail(*, session: Session, memo: Memo, company: Company) -> MemoTrail:
    """The memo's trail, read in six queries."""
    country, names, steps = _company_terms(company)
    deliveries = list(
        session.exec(
            select(Delivery)
            .where(Delivery.memo_id == memo.id)
            .order_by(col(Delivery.created_at), col(Delivery.contact_key), col(Delivery.id))
        ).all()
    )
    firings = session.exec(
        select(EscalationFiring)
        .where(EscalationFiring.memo_id == memo.id)
        .order_by(col(EscalationFiring.step))
    ).all()
    tasks = session.exec(
        select(CallbackTask)
        .where(CallbackTask.memo_id == memo.id)
        .order_by(col(CallbackTask.created_at), col(CallbackTask.id))
    ).all()
    takers = {t.taken_by for t in tasks if t.taken_by}
    people: dict[str, str] = {}
    if takers:
        for user in session.exec(select(User).where(col(User.id).in_(takers))):
            people[user.id] = user.display_name or user.email

    def to_display(delivery: Delivery) -> str:
        # A mailbox, a room or a channel id is shown as it is; a phone number as people write it.
        if delivery.channel == Channel.email or is_chat(delivery.channel):
            return delivery.to
        return display_for(delivery.to, country=country)

    def platform(delivery: Delivery) -> str | None:
        return delivery.channel.value if is_chat(delivery.channel) else None

    escalations = []
    claimed: set[str] = set()
    for firing in firings:
        # A step's deliveries and callback are written in the step's own transaction, at its
        # firing and before the next step of its kind fires later; steps that fired together
        # (a worker catching up) are told apart by the contacts and channels each names.
        later = [
            f.fired_at
            for f in firings
            if f.action == firing.action and f.fired_at > firing.fired_at
        ]
        end = min(later) if later else None
        step = steps[firing.step] if firing.step < len(steps) else None
        recipients = []
        for d in deliveries:
            if d.reason != DeliveryReason.escalation or d.id in claimed:
                continue
            if not _within(d.created_at, firing.fired_at, end) or firing.action != "notify":
                continue
            if step is not None and (
                d.contact_key not in (step.notify or []) or d.channel not in (step.channels or [])
            ):
                continue
            claimed.add(d.id)
            recipients.append(
                TrailRecipient(
                    delivery_id=d.id,
                    contact=d.contact_key,
                    contact_name=names.get(d.contact_key, d.contact_key),
                    channel=d.channel.value,
                    to_display=to_display(d),
                    status=d.status.value,
                    platform=platform(d),
                )
            )
        callback = None
        if firing.action == "operator_callback":
            callback = next(
                (
                    t.id
                    for t in tasks
                    if t.id not in claimed and _within(t.created_at, firing.fired_at, end)
                ),
                None,
            )
            if callback is not None:
                claimed.add(callback)
        escalations.append(
            TrailEscalation(
                step=firing.step + 1,
                action=firing.action,
                due_at=firing.due_at.isoformat(),
                fired_at=firing.fired_at.isoformat(),
                fired_by=firing.fired_by,
                recipients=recipients,
                callback_id=callback,
            )
        )

    acknowledgement = None
    if memo.acknowledged_at is not None:
        # Who entered it: kept on the memo; for memos acknowledged before it was, the trail.
        recorded = (
            memo.acknowledged_recorded_by
            or session.exec(
                select(AuditEntry.actor)
                .where(
                    AuditEntry.action == Action.memo_acknowledged_for.value,
                    AuditEntry.target == f"memo:{memo.id}",
                )
                .order_by(col(AuditEntry.at))
                .limit(1)
            ).first()
        )
        by = memo.acknowledged_by
        acknowledgement = TrailAcknowledgement(
            at=memo.acknowledged_at.isoformat(),
            by=by,
            by_name=names.get(by, by) if by else "",
            via=memo.acknowledged_via,
            recorded_by=recorded,
        )

    return MemoTrail(
        memo_id=memo.id,
        client=company.slug,
        status=memo.status.value,
        created_at=memo.created_at.isoformat(),
        deliveries=[
            TrailDelivery(
                id=d.id,
                channel=d.channel.value,
                to=d.to,
                to_display=to_display(d),
                contact=d.contact_key,
                contact_name=names.get(d.contact_key, d.contact_key),
                platform=platform(d),
                reason=d.reason.value,
                status=d.status.value,
                attempts=d.attempts,
                provider_id=d.provider_id,
                error=d.error,
                error_code=d.error_code,
                created_at=d.created_at.isoformat(),
                due_at=d.due_at.isoformat(),
                attempted_at=_iso(d.attempted_at),
                sent_at=_iso(d.sent_at),
                delivered_at=_iso(d.delivered_at),
                updated_at=d.updated_at.isoformat(),
                replaces=_replaces(d),
                update_of=_update_of(d, deliveries),
            )
            for d in deliveries
        ],
        skipped=[SkippedContact.model_validate(skip) for skip in memo.skipped],
        escalations=escalations,
        acknowledgement=acknowledgement,
        callbacks=[
            TrailCallback(
                id=t.id,
                status=t.status.value,
                contact=t.contact_key,
                contact_name=names.get(t.contact_key, t.contact_key) if t.contact_key else "",
                phone=t.phone,
                phone_display=display_for(t.phone, country=country),
                due_at=t.due_at.isoformat(),
                created_at=t.created_at.isoformat(),
                taken_by=people.get(t.taken_by) if t.taken_by else None,
                taken_at=_iso(t.taken_at),
                outcome=t.outcome.value if t.outcome else None,
                note=t.note,
                attempts=t.attempts,
                updated_at=t.updated_at.isoformat(),
            )
            for t in tasks
        ],
        resolutions=[
            TrailResolution(
                at=r.at.isoformat(),
                response=r.response,
                cause=r.cause,
                result=r.result,
                resolved=r.resolved,
                by=r.by,
                via=r.via,
                recorded_by=r.recorded_by,
            )
            for r in resolutions_of(session=session, memo_id=memo.id)
        ],
    )
