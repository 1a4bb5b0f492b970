"""LINE Messaging API webhooks: the acknowledge postback of a memo's message (CONTRACT §8)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from linebot.v3 import SignatureValidator
from pydantic import BaseModel, Field
from sqlmodel import Session

from service.acks.chat import ChatTarget, acknowledge_from_chat, target_of_token
from service.acks.service import AckVia
from service.calls.service import seen_webhook
from service.channels import Channel
from service.errors import BadRequest, Unauthenticated
from service.http_deps import SessionDep, SettingsDep
from service.i18n import N_
from service.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/hooks", tags=["chat"])

SIGNATURE_HEADER = "X-Line-Signature"
# LINE's postback data is at most 300 characters; anything longer is none of our tokens.
DATA_MAX_CHARS = 300
EVENT_ID_MAX_CHARS = 64
BY_MAX_CHARS = 200
# Who acknowledged, when the event names no user.
UNNAMED = "LINE"


class LineHookAnswer(BaseModel):
    """What came of a webhook: how many memos its postbacks acknowledged first."""

    acknowledged: int = Field(description="Memos acknowledged by this call, not before it.")


@dataclass(frozen=True)
class _Webhook:
    body: bytes
    signature: str


async def _webhook(request: Request) -> _Webhook:
    signature = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not signature:
        raise _refused()
    return _Webhook(body=await request.body(), signature=signature)


Webhook = Annotated[_Webhook, Depends(_webhook)]


@dataclass(frozen=True)
class _Postback:
    target: ChatTarget
    by: str
    event_id: str | None


def _refused() -> Unauthenticated:
    return Unauthenticated(N_("The LINE signature is missing or not valid."), code="bad_signature")


def _not_a_webhook() -> BadRequest:
    return BadRequest(N_("This is not a LINE webhook."), code="not_a_webhook")


def _events(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The body as text (what LINE signed) and its events; refuses what LINE never sends."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, nested past reason
        raise _not_a_webhook() from error
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise _not_a_webhook()
    return text, [event for event in events if isinstance(event, dict)]


def _text_at(data: Any, *path: str, limit: int) -> str | None:
    for name in path:
        data = data.get(name) if isinstance(data, dict) else None
    if not isinstance(data, str):
        return None
    data = data.strip()
    return data if data and len(data) <= limit else None


def _postbacks(
    *, session: Session, settings: Settings, events: list[dict[str, Any]]
) -> list[_Postback]:
    """The events that press a memo's acknowledge button; the rest (follows, messages, a
    console's verify request with no events) are none of Relay's business."""
    found: list[_Postback] = []
    for event in events:
        if event.get("type") != "postback":
            continue
        token = _text_at(event, "postback", "data", limit=DATA_MAX_CHARS)
        if token is None:
            continue
        target = target_of_token(session=session, settings=settings, token=token, kind=Channel.line)
        if target is None:
            continue
        by = _text_at(event, "source", "userId", limit=BY_MAX_CHARS) or UNNAMED
        event_id = _text_at(event, "webhookEventId", limit=EVENT_ID_MAX_CHARS)
        found.append(_Postback(target=target, by=by, event_id=event_id))
    return found


@router.post("/line", response_model=LineHookAnswer)
def line_hook(webhook: Webhook, session: SessionDep, settings: SettingsDep) -> LineHookAnswer:
    """Postbacks from memos' acknowledge buttons: checked against the channel secret of each
    memo's destination, then acknowledged; a webhook LINE sends again changes nothing.

    The postback's signed token says which destination, so which channel secret, signed the
    body; nothing is written before that signature holds. LINE signs the body alone, with no
    time: a redelivery may come late, and a repeat of an acknowledgement changes nothing.
    """
    text, events = _events(webhook.body)
    postbacks = _postbacks(session=session, settings=settings, events=events)
    checked: set[str] = set()
    for postback in postbacks:
        name = postback.target.destination.key
        key = f"{postback.target.memo.company_id}:{name}"
        if key in checked:
            continue
        secret = postback.target.secret(session=session, settings=settings, field="signing_secret")
        if not secret:
            log.warning(
                "line webhook for destination %s refused: its channel secret is not set", name
            )
            raise _refused()
        if not SignatureValidator(secret).validate(text, webhook.signature):
            raise _refused()
        checked.add(key)
    acknowledged = 0
    for postback in postbacks:
        if postback.event_id and seen_webhook(session=session, key=f"line:{postback.event_id}"):
            continue
        result = acknowledge_from_chat(
            session=session, target=postback.target, by=postback.by, via=AckVia.line
        )
        if result is not None and result.first:
            acknowledged += 1
    return LineHookAnswer(acknowledged=acknowledged)
