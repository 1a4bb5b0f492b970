"""Turning a claimed delivery into the message its provider sends."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session

from service.acks.tokens import ack_link, make_ack_token
from service.auth.models import User
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.models import Delivery
from service.memos.models import Memo
from service.messages.render import render_memo_message
from service.providers.base import Channel, OutgoingMessage
from service.settings import Settings

STATUS_PATHS = {Channel.sms: "/twilio/sms/status", Channel.voice: "/twilio/voice/callout/status"}


def render_delivery(*, session: Session, delivery: Delivery, settings: Settings) -> None:
    """Fix the delivery's words on first attempt, so every retry sends the very same message."""
    if delivery.text is not None:
        return
    memo = session.get(Memo, delivery.memo_id)
    assert memo is not None
    company = session.get(Company, memo.company_id)
    assert company is not None
    config = company_config(company)
    try:
        contact_name = config.contact(delivery.contact_key).name
    except KeyError:
        contact_name = ""
    operator = session.get(User, memo.operator_id)
    timezone = ZoneInfo(config.hours.timezone if config.hours else "Asia/Tokyo")
    token = make_ack_token(
        secret=settings.secret(), memo_id=memo.id, contact_key=delivery.contact_key
    )
    rendered = render_memo_message(
        channel=delivery.channel,
        memo=memo,
        company_name=company.name,
        config=config,
        contact_name=contact_name,
        ack_url=ack_link(public_base_url=settings.public_base_url, token=token),
        received_at_local=memo.created_at.astimezone(timezone),
        operator_name=operator.display_name if operator else "",
    )
    delivery.locale = config.locale
    delivery.subject = rendered.subject[:500]
    delivery.text = rendered.text
    delivery.html = rendered.html
    # Written with the claim's commit: a batch's rendered deliveries go out in one UPDATE
    # round instead of one each.
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
    )
