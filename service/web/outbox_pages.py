"""The dev outbox: what Relay would have sent, for staff, while a channel has no real provider.

A chat message is shown as its platform shows it, with the request the platform would have
been sent; a dev-only action does what the platform's user would (press the button, reply
with the code), so a memo's whole chat flow runs with no account anywhere.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from markupsafe import Markup, escape
from pydantic import ValidationError
from sqlmodel import Session, col, select

from service.acks.chat import (
    ChatTarget,
    acknowledge_from_chat,
    target_of_code,
    target_of_token,
)
from service.acks.service import AckVia
from service.auth.models import Role
from service.channels import Channel, is_chat
from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.models import Delivery
from service.errors import NotFound
from service.http_deps import CurrentStaff, OptionalUser, SessionDep
from service.i18n import N_
from service.memos.models import Memo
from service.messages.sms import count_sms
from service.providers import outbox, registry
from service.providers.base import ChatPayload, OutgoingMessage
from service.providers.chat import CHAT_PREVIEWS
from service.providers.models import OutboxMessage
from service.reports.recap import DailyRecap
from service.settings import Settings
from service.web.auth_pages import login_redirect
from service.web.csrf import CsrfProtected
from service.web.pages import refusal_page

log = logging.getLogger(__name__)
STAFF_ROLES = (Role.admin, Role.operator)
PAGE_LIMIT = 100
JSON_LIMIT_MAX = 500
DISPLAY_ZONE = ZoneInfo("Asia/Tokyo")
# Links in Relay's messages are ASCII URLs; stop before Japanese text or closing punctuation.
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_TRAILING = ".,;:!?'()[]"
# What the platform's user does to acknowledge a chat message: press its button (or
# postback), or reply with the memo's code. Teams Workflows and webhooks take no answer.
CHAT_ACTIONS = {
    Channel.slack: "press",
    Channel.line: "press",
    Channel.lineworks: "press",
    Channel.chatwork: "reply",
}
# Who acknowledged, when the person trying the flow types no name.
DEFAULT_BY = "dev outbox"
BY_MAX = 100


def linkify(text: str) -> Markup:
    """`text` escaped for HTML, with every http(s) URL made a link."""
    parts: list[str] = []
    position = 0
    for found in _URL.finditer(text):
        url = found.group(0).rstrip(_TRAILING)
        start, end = found.start(), found.start() + len(url)
        parts.append(str(escape(text[position:start])))
        parts.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        position = end
    parts.append(str(escape(text[position:])))
    return Markup("".join(parts))  # noqa: S704 - every piece above is escaped


def require_outbox(request: Request) -> None:
    """404 unless some channel's messages go to the dev outbox."""
    settings: Settings = request.app.state.settings
    if not registry.outbox_channels(settings=settings):
        raise NotFound(N_("Not found."))


# Checked before anything else: without an outbox in use the pages do not exist.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_outbox)])


def _payload(message: OutboxMessage) -> ChatPayload | None:
    if not is_chat(message.channel) or not message.payload:
        return None
    try:
        return ChatPayload.from_json(message.payload)
    except (ValueError, KeyError, TypeError):
        return None  # an older row, or one kept before its payload's shape settled


def _outgoing(message: OutboxMessage, payload: ChatPayload) -> OutgoingMessage:
    """The message as its provider would have been given it."""
    return OutgoingMessage(
        delivery_id=message.delivery_id,
        channel=message.channel,
        to=message.to,
        text=message.text,
        subject=message.subject,
        html=message.html,
        locale=payload.card.locale,
        chat=payload,
    )


def _platform_request(message: OutboxMessage, payload: ChatPayload) -> str | None:
    """The JSON request the platform would have been sent, when its platform can say."""
    preview = CHAT_PREVIEWS.get(message.channel)
    if preview is None:
        return None
    try:
        body = preview(_outgoing(message, payload))
    except Exception:
        # The page still shows the card: a message kept by an older version may lack a part.
        log.exception("outbox message %s: no platform request could be built", message.id)
        return None
    return json.dumps(body, ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class _Sent:
    """What the page tells of a chat message's delivery: whom it went to, and if it is seen."""

    destination: str
    answered: bool


def _label(config: CompanyConfig | None, key: str) -> str:
    if config is None:
        return key
    try:
        return config.destination(key).label
    except KeyError:
        return key  # the destination was removed since


def _chat_deliveries(session: Session, messages: list[OutboxMessage]) -> dict[str, _Sent]:
    """Each chat message's destination (its name) and whether its memo is acknowledged."""
    ids = [m.delivery_id for m in messages if is_chat(m.channel)]
    if not ids:
        return {}
    memo_rows = session.exec(
        select(Delivery.id, Delivery.contact_key, Memo.acknowledged_at, Company)
        .join(Memo, col(Memo.id) == col(Delivery.memo_id))
        .join(Company, col(Company.id) == col(Memo.company_id))
        .where(col(Delivery.id).in_(ids))
    ).all()
    # A recap's card carries no memo: its company is its recap's, and it asks no answer.
    recap_rows = session.exec(
        select(Delivery.id, Delivery.contact_key, Company)
        .join(DailyRecap, col(DailyRecap.id) == col(Delivery.recap_id))
        .join(Company, col(Company.id) == col(DailyRecap.company_id))
        .where(col(Delivery.id).in_(ids))
    ).all()
    rows = [*memo_rows, *((d, key, None, company) for d, key, company in recap_rows)]
    configs: dict[str, CompanyConfig | None] = {}
    found = {}
    for delivery_id, key, acknowledged_at, company in rows:
        if company.id not in configs:
            try:
                configs[company.id] = company_config(company)
            except ValidationError:
                configs[company.id] = None
        found[delivery_id] = _Sent(
            destination=_label(configs[company.id], key), answered=acknowledged_at is not None
        )
    return found


def _chat_view(
    message: OutboxMessage, *, sent: _Sent | None, actionable: frozenset[Channel]
) -> dict[str, Any] | None:
    payload = _payload(message)
    if payload is None:
        return None
    card = payload.card
    action = CHAT_ACTIONS.get(message.channel)
    return {
        "event": payload.event.value,
        "destination": sent.destination if sent else None,
        "title": card.title,
        "urgent": card.urgent,
        "facts": [list(pair) for pair in card.facts],
        "summary": card.summary,
        "code": card.code,
        "code_label": card.code_label,
        "ack_url": card.ack_url,
        "ack_label": card.ack_label,
        "link_label": card.link_label,
        "acknowledged": card.acknowledged,
        "mentions": list(card.mentions),
        "replaces": payload.replaces,
        "request": _platform_request(message, payload),
        # Only a message of a memo not yet acknowledged is offered an answer, and only while
        # its channel goes to the outbox (a live platform answers through its own hook).
        "action": (
            action
            if action
            and card.acknowledged is None
            and not (sent and sent.answered)
            and message.channel in actionable
            else None
        ),
    }


def _view(
    message: OutboxMessage,
    *,
    sent: _Sent | None = None,
    actionable: frozenset[Channel] = frozenset(),
) -> dict[str, Any]:
    local = message.created_at.astimezone(DISPLAY_ZONE)
    count = count_sms(text=message.text) if message.channel == Channel.sms else None
    return {
        "id": message.id,
        "delivery_id": message.delivery_id,
        "channel": str(message.channel),
        "to": message.to,
        "subject": message.subject,
        "text": message.text,
        "text_html": linkify(message.text),
        "html": message.html,
        "created_at": message.created_at.isoformat(),
        "created_local": local.strftime("%Y-%m-%d %H:%M:%S"),
        "characters": len(message.text),
        "segments": count.segments if count else None,
        "encoding": count.encoding if count else None,
        "chat": _chat_view(message, sent=sent, actionable=actionable),
    }


def _views(session: Session, settings: Settings, messages: list[OutboxMessage]) -> list[Any]:
    sent = _chat_deliveries(session, messages)
    actionable = registry.outbox_channels(settings=settings)
    return [_view(m, sent=sent.get(m.delivery_id), actionable=actionable) for m in messages]


@router.get("/dev/outbox")
def outbox_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The newest dev-outbox messages: SMS as phone bubbles, email rendered."""
    settings: Settings = request.app.state.settings
    if user is None:
        return login_redirect(request)
    templates = request.app.state.templates
    if user.role not in STAFF_ROLES:
        forbidden: Response = templates.TemplateResponse(
            request,
            "outbox.html",
            {"user": user, "forbidden": True},
            status_code=status.HTTP_403_FORBIDDEN,
        )
        return forbidden
    messages = outbox.latest_messages(session=session, limit=PAGE_LIMIT)
    context = {
        "user": user,
        "forbidden": False,
        "messages": _views(session, settings, messages),
        "outbox_channels": sorted(registry.outbox_channels(settings=settings)),
    }
    response: Response = templates.TemplateResponse(request, "outbox.html", context)
    return response


@router.get("/dev/outbox.json")
def outbox_json(
    request: Request,
    session: SessionDep,
    _: CurrentStaff,
    limit: Annotated[int, Query(ge=1, le=JSON_LIMIT_MAX)] = 50,
    channel: Channel | None = None,
    to: str | None = None,
    delivery_id: str | None = None,
) -> dict[str, Any]:
    """The newest dev-outbox messages as JSON, optionally filtered."""
    messages = outbox.latest_messages(
        session=session, limit=limit, channel=channel, to=to, delivery_id=delivery_id
    )
    settings: Settings = request.app.state.settings
    items = []
    for view in _views(session, settings, messages):
        del view["text_html"], view["created_local"]
        items.append(view)
    return {"items": items}


def _chat_target(
    *, session: Session, settings: Settings, message: OutboxMessage, payload: ChatPayload
) -> ChatTarget | None:
    """What the platform's hook would find for this message's button or reply."""
    if CHAT_ACTIONS[message.channel] == "reply":
        return target_of_code(
            session=session, code=payload.card.code, kind=message.channel, address=message.to
        )
    return target_of_token(
        session=session, settings=settings, token=payload.card.ack_value, kind=message.channel
    )


@router.post("/dev/outbox/{message_id}/acknowledge")
def acknowledge_chat(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    message_id: str,
    by: Annotated[str, Form(max_length=BY_MAX)] = "",
) -> Response:
    """Answer a chat message as its platform's user would: press its button or reply the code.

    Only while the message's channel goes to the outbox; the memo is acknowledged through
    the platform's own path, so the dispatcher then sends the update as it would live.
    """
    if user is None:
        # Back to the outbox after signing in: this address only takes a POST.
        return RedirectResponse("/login?next=%2Fdev%2Foutbox", status.HTTP_303_SEE_OTHER)
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    settings: Settings = request.app.state.settings
    message = session.get(OutboxMessage, message_id)
    payload = _payload(message) if message is not None else None
    if (
        message is None
        or payload is None
        or message.channel not in CHAT_ACTIONS
        or message.channel not in registry.outbox_channels(settings=settings)
    ):
        raise NotFound(N_("Not found."))
    target = _chat_target(session=session, settings=settings, message=message, payload=payload)
    if target is None:
        raise NotFound(N_("Not found."))
    acknowledge_from_chat(
        session=session,
        target=target,
        by=by.strip() or DEFAULT_BY,
        via=AckVia(message.channel.value),
    )
    return RedirectResponse(f"/dev/outbox#m-{message.id}", status.HTTP_303_SEE_OTHER)
