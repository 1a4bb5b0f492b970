"""Turning a claimed delivery into the message its provider sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from service.auth.models import User
from service.channels import Channel, is_chat
from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.models import FOLLOW_UPS, Delivery, DeliveryReason
from service.memos.ack_links import ack_link, make_ack_token
from service.memos.models import Memo
from service.messages.chat import chat_card
from service.messages.context import memo_context
from service.messages.follow_up import render_follow_up_message
from service.messages.render import render_memo_message
from service.providers.base import ChatEvent, ChatPayload, OutgoingMessage
from service.settings import Settings

STATUS_PATHS = {Channel.sms: "/twilio/sms/status", Channel.voice: "/twilio/voice/callout/status"}


@dataclass(frozen=True)
class WordsSource:
    """What a delivery's words are made from, read while it is claimed."""

    channel: Channel
    contact_key: str
    memo: Memo
    company: Company
    operator_name: str
    reason: DeliveryReason = DeliveryReason.routing


@dataclass(frozen=True)
class Words:
    """A delivery's rendered words, fixed at its first attempt."""

    locale: str
    subject: str
    text: str
    html: str | None
    payload: str | None = None  # chat and webhook deliveries: ChatPayload as JSON

    def values(self) -> dict[str, str | None]:
        """The delivery columns these words fill."""
        return {
            "locale": self.locale,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "payload": self.payload,
        }


def words_source(*, session: Session, delivery: Delivery) -> WordsSource:
    """Read what rendering `delivery` needs, so rendering itself needs no database."""
    memo = session.get(Memo, delivery.memo_id)
    assert memo is not None
    company = session.get(Company, memo.company_id)
    assert company is not None
    operator = session.get(User, memo.operator_id)
    return WordsSource(
        channel=delivery.channel,
        contact_key=delivery.contact_key,
        memo=memo,
        company=company,
        operator_name=operator.display_name if operator else "",
        reason=delivery.reason,
    )


# What each reason for a chat or webhook delivery tells its destination.
EVENTS = {
    DeliveryReason.routing: ChatEvent.created,
    DeliveryReason.fallback: ChatEvent.created,
    DeliveryReason.escalation: ChatEvent.escalated,
    DeliveryReason.acknowledged: ChatEvent.acknowledged,
    DeliveryReason.memo_failed: ChatEvent.failed,
}


def _moment(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def memo_event_data(*, memo: Memo, company: Company, ack_url: str) -> dict[str, Any]:
    """A memo as a webhook event carries it."""
    acknowledged = None
    if memo.acknowledged_at is not None:
        acknowledged = {
            "by": memo.acknowledged_by,
            "via": memo.acknowledged_via,
            "at": _moment(memo.acknowledged_at),
        }
    return {
        "id": memo.id,
        "company": company.slug,
        "company_name": company.name,
        "caller": {
            "name": memo.caller_name,
            "phone": memo.caller_phone,
            "company": memo.caller_company,
        },
        "category": memo.category.value,
        "urgency": memo.urgency.value,
        "subject": memo.subject,
        "body": memo.body,
        "fields": memo.fields or {},
        "ack_code": memo.ack_code,
        "ack_url": ack_url,
        "status": memo.status.value,
        "created_at": _moment(memo.created_at),
        "acknowledged": acknowledged,
    }


def _chat_words(
    *, source: WordsSource, config: CompanyConfig, token: str, ack_url: str, context: dict[str, Any]
) -> Words:
    """A chat or webhook delivery's card, options and event."""
    destination = config.destination(source.contact_key)
    options = destination.options()
    card = chat_card(context=context, ack_value=token, mentions=options.get("mention"))
    payload = ChatPayload(
        event=EVENTS[source.reason],
        card=card,
        options=options,
        memo=memo_event_data(memo=source.memo, company=source.company, ack_url=ack_url),
    )
    return Words(
        locale=config.locale,
        subject=card.title[:500],
        text=card.text,
        html=None,
        payload=payload.to_json(),
    )


def compose_words(*, source: WordsSource, settings: Settings) -> Words:
    """Render a delivery's words from the company's templates; raises TemplateError."""
    memo, company = source.memo, source.company
    config = company_config(company)
    try:
        if is_chat(source.channel):
            contact_name = config.destination(source.contact_key).label
        else:
            contact_name = config.contact(source.contact_key).name
    except KeyError:
        contact_name = ""
    timezone = ZoneInfo(config.hours.timezone if config.hours else "Asia/Tokyo")
    token = make_ack_token(
        secret=settings.secret(), memo_id=memo.id, contact_key=source.contact_key
    )
    ack_url = ack_link(public_base_url=settings.public_base_url, token=token)
    if is_chat(source.channel):
        context = memo_context(
            memo=memo,
            company_name=company.name,
            config=config,
            contact_name=contact_name,
            ack_url=ack_url,
            received_at_local=memo.created_at.astimezone(timezone),
            operator_name=source.operator_name,
        )
        return _chat_words(
            source=source, config=config, token=token, ack_url=ack_url, context=context
        )
    if source.reason in FOLLOW_UPS:
        rendered = render_follow_up_message(
            channel=source.channel,
            memo=memo,
            company_name=company.name,
            config=config,
            contact_name=contact_name,
            ack_url=ack_url,
            received_at_local=memo.created_at.astimezone(timezone),
            # A memo resolved since the reminder was queued has no deadline any more.
            deadline_local=(memo.follow_up_due or memo.updated_at).astimezone(timezone),
            overdue=source.reason == DeliveryReason.follow_up_overdue,
        )
        return Words(
            locale=config.locale, subject=rendered.subject[:500], text=rendered.text, html=None
        )
    rendered = render_memo_message(
        channel=source.channel,
        memo=memo,
        company_name=company.name,
        config=config,
        contact_name=contact_name,
        ack_url=ack_url,
        received_at_local=memo.created_at.astimezone(timezone),
        operator_name=source.operator_name,
    )
    return Words(
        locale=config.locale,
        subject=rendered.subject[:500],
        text=rendered.text,
        html=rendered.html,
    )


def fix_words(*, delivery: Delivery, words: Words) -> None:
    """Put rendered words on a delivery (the caller writes them)."""
    delivery.locale = words.locale
    delivery.subject = words.subject
    delivery.text = words.text
    delivery.html = words.html
    delivery.payload = words.payload


def render_delivery(*, session: Session, delivery: Delivery, settings: Settings) -> None:
    """Fix the delivery's words on first attempt, so every retry sends the very same message.

    In one session, for callers that hold no claim; the dispatcher renders with no
    transaction open (`words_source`, then `compose_words`).
    """
    if delivery.text is not None:
        return
    words = compose_words(
        source=words_source(session=session, delivery=delivery), settings=settings
    )
    fix_words(delivery=delivery, words=words)
    session.add(delivery)


def outgoing(*, delivery: Delivery, settings: Settings) -> OutgoingMessage:
    """The provider's view of a rendered delivery."""
    assert delivery.text is not None, "render_delivery first"
    path = STATUS_PATHS.get(delivery.channel)
    callback = f"{settings.public_base_url}{path}?d={delivery.id}" if path else None
    return OutgoingMessage(
        delivery_id=delivery.id,
        channel=delivery.channel,
        to=delivery.to,
        text=delivery.text,
        subject=delivery.subject or "",
        html=delivery.html,
        locale=delivery.locale,
        status_callback=callback,
        headers={"X-Relay-Delivery": delivery.id},
        attempted_at=delivery.attempted_at,
        chat=ChatPayload.from_json(delivery.payload) if delivery.payload else None,
    )
