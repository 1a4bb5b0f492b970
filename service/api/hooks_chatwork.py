"""Chatwork webhooks: a reply carrying a memo's code, posted in a room Relay posts to (CONTRACT §8).

Chatwork signs the body with the webhook's token (base64 HMAC-SHA256, keyed with the token
base64-decoded). The token belongs to the room's destination (`webhook_secret:`), so the room
named in the body says which token to check it with; nothing else in it is read before then.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlmodel import Session, col, select

from service import clock
from service.acks.chat import acknowledge_from_chat, target_of_code
from service.acks.service import AckVia
from service.channels import Channel
from service.companies.destinations import ChatworkDestination
from service.companies.models import Company
from service.companies.service import company_config, list_companies
from service.dispatch.models import Delivery
from service.errors import BadRequest, Unauthenticated
from service.http_deps import SessionDep, SettingsDep
from service.i18n import N_
from service.memos.models import Memo
from service.providers.chat.chatwork import MARKER
from service.secrets.service import read_secret
from service.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/hooks", tags=["chat"])

SIGNATURE_HEADER = "X-ChatWorkWebhookSignature"
SIGNATURE_QUERY = "chatwork_webhook_signature"
# Chatwork signs the body alone; the time it wrote into it bounds a replay.
MAX_AGE = timedelta(minutes=10)
# The events that carry a message someone posted; an edit or anything else changes nothing.
MESSAGE_EVENTS = frozenset({"message_created", "mention_to_me"})
# A reply acknowledges at most this many memos (a list of codes pasted in is not a reply).
MAX_CODES = 5

# Chatwork's own tags in a message: quotes (which hold someone else's words), replies and
# mentions (which hold account and message ids), and links: none of them is the code typed.
_QUOTE = re.compile(r"\[qt\](?:(?!\[qt\]).)*?\[/qt\]", re.DOTALL)
_TAG = re.compile(r"\[(?:To|rp|pname|picon|piconname|preview|download|dtext)[:\s][^\]]*\]")
_LINK = re.compile(r"https?://\S+")
# A memo's code: 4 digits (6 once 4 ran out), not part of a number, date, time or phone.
_CODE = re.compile(r"(?<![\d\-/:.,])(\d{6}|\d{4})(?![\d\-/:]|[.,]\d)")


class ChatworkHookAnswer(BaseModel):
    """What came of a webhook: a memo acknowledged now, earlier, or nothing to do."""

    result: Literal["acknowledged", "already", "ignored"]


@dataclass(frozen=True)
class _Webhook:
    body: bytes
    signature: str | None


async def _webhook(request: Request) -> _Webhook:
    signature = request.headers.get(SIGNATURE_HEADER) or request.query_params.get(SIGNATURE_QUERY)
    return _Webhook(body=await request.body(), signature=signature)


Webhook = Annotated[_Webhook, Depends(_webhook)]


def signature_of(*, token: str, body: bytes) -> str | None:
    """The signature Chatwork sends with `body`; None for a token that is not base64."""
    try:
        key = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def _refused() -> Unauthenticated:
    return Unauthenticated(
        N_("The Chatwork signature is missing or not valid."), code="bad_signature"
    )


def _read(body: bytes) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The webhook, its event and the room it happened in."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    event = data.get("webhook_event") if isinstance(data, dict) else None
    room = event.get("room_id") if isinstance(event, dict) else None
    if not isinstance(data, dict) or not isinstance(event, dict):
        raise BadRequest(N_("This is not a Chatwork webhook."), code="not_a_webhook")
    if isinstance(room, bool) or not isinstance(room, int | str) or not str(room).isdigit():
        raise BadRequest(N_("This is not a Chatwork webhook."), code="not_a_webhook")
    return data, event, str(room)


def _room_destinations(*, session: Session, room: str) -> list[ChatworkDestination]:
    """The destinations naming `room`: those Relay posted to, else any a company lists."""
    posted = session.exec(
        select(Memo.company_id, Delivery.contact_key)
        .join(Delivery, col(Delivery.memo_id) == col(Memo.id))
        .where(Delivery.channel == Channel.chatwork, Delivery.to == room)
        .distinct()
    ).all()
    found: list[ChatworkDestination] = []
    if posted:
        for company_id, key in posted:
            company = session.get(Company, company_id)
            if company is None:
                continue
            destination = _destination(company, key)
            if destination is not None and destination.room_id == room:
                found.append(destination)
        return found
    # A room no memo went to yet (a webhook tried out before the first memo).
    for company in list_companies(session=session):
        for listed in company_config(company).destinations:
            if isinstance(listed, ChatworkDestination) and listed.room_id == room:
                found.append(listed)
    return found


def _destination(company: Company, key: str) -> ChatworkDestination | None:
    try:
        found = company_config(company).destination(key)
    except KeyError:
        return None
    return found if isinstance(found, ChatworkDestination) else None


def _signed_with(*, session: Session, settings: Settings, room: str, webhook: _Webhook) -> set[str]:
    """The names of the room's webhook tokens that signed the body; none when none did."""
    destinations = _room_destinations(session=session, room=room)
    names = sorted({d.webhook_secret for d in destinations if d.webhook_secret})
    signed: set[str] = set()
    assert webhook.signature is not None
    for name in names:
        token = read_secret(session=session, name=name, settings=settings)
        if not token:
            log.warning("chatwork webhook for room %s: secret %r is not set", room, name)
            continue
        expected = signature_of(token=token, body=webhook.body)
        if expected and hmac.compare_digest(expected.encode(), webhook.signature.encode()):
            signed.add(name)
    if not names:
        log.warning("chatwork webhook for room %s refused: no destination names its token", room)
    return signed


def _sent_at(data: dict[str, Any]) -> datetime | None:
    value = data.get("webhook_event_time")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def codes_in(body: str) -> list[str]:
    """The memo codes a message's own words carry (full-width digits too), in order."""
    text = unicodedata.normalize("NFKC", body)
    while True:
        unquoted = _QUOTE.sub(" ", text)
        if unquoted == text:
            break
        text = unquoted
    if MARKER.search(text):
        return []  # Relay's own message (posted or edited): its code is not a reply
    text = _LINK.sub(" ", _TAG.sub(" ", text))
    return list(dict.fromkeys(_CODE.findall(text)))[:MAX_CODES]


def _by(event: dict[str, Any]) -> str:
    """Who posted the message, as Chatwork names them."""
    for key in ("account_name", "from_account_name"):
        name = event.get(key)
        if isinstance(name, str) and name.strip():
            return name.strip()[:200]
    for key in ("account_id", "from_account_id"):
        account = event.get(key)
        if isinstance(account, int | str) and not isinstance(account, bool) and str(account):
            return f"Chatwork {account}"
    return "Chatwork"


@router.post("/chatwork", response_model=ChatworkHookAnswer)
def chatwork_hook(
    webhook: Webhook, session: SessionDep, settings: SettingsDep
) -> ChatworkHookAnswer:
    """A message posted in a room Relay posts to: checked against the room's webhook token,
    then each memo whose code it carries and that went to that room is acknowledged.
    """
    if not webhook.signature:
        raise _refused()
    data, event, room = _read(webhook.body)
    signed = _signed_with(session=session, settings=settings, room=room, webhook=webhook)
    if not signed:
        raise _refused()
    sent_at = _sent_at(data)
    if sent_at is None or abs(clock.now() - sent_at) > MAX_AGE:
        raise Unauthenticated(
            N_("The Chatwork webhook is too old to be trusted."), code="stale_signature"
        )
    body = event.get("body")
    if data.get("webhook_event_type") not in MESSAGE_EVENTS or not isinstance(body, str):
        return ChatworkHookAnswer(result="ignored")
    answer: Literal["acknowledged", "already", "ignored"] = "ignored"
    for code in codes_in(body):
        target = target_of_code(session=session, code=code, kind=Channel.chatwork, address=room)
        # Only a memo whose room this token signs for: a room shared by two companies
        # acknowledges each one's memos through its own webhook.
        if target is None or getattr(target.destination, "webhook_secret", None) not in signed:
            continue
        result = acknowledge_from_chat(
            session=session, target=target, by=_by(event), via=AckVia.chatwork
        )
        if result is not None and result.first:
            answer = "acknowledged"
        elif result is not None and answer == "ignored":
            answer = "already"
    return ChatworkHookAnswer(result=answer)
