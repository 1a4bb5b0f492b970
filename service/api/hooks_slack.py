"""Slack interactions: someone pressed a memo's acknowledge button in Slack (CONTRACT §8)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response, status
from slack_sdk.signature import Clock, SignatureVerifier

from service import clock
from service.acks.chat import ChatTarget, acknowledge_from_chat, target_of_token
from service.acks.service import AckVia
from service.channels import Channel
from service.errors import BadRequest, NotFound, Unauthenticated
from service.http_deps import SessionDep, SettingsDep
from service.i18n import N_
from service.providers.chat.slack import ACK_ACTION_ID

router = APIRouter(prefix="/hooks", tags=["chat"])


class _RelayClock(Clock):
    """Relay's clock as Slack's verifier reads it, so a signature's age is judged by it."""

    def now(self) -> float:
        return clock.now().timestamp()


async def verified_slack_body(request: Request, settings: SettingsDep) -> bytes:
    """The request's raw body, once its X-Slack-Signature proved it came from Slack."""
    if settings.slack_signing_secret is None:
        raise NotFound(N_("Slack is not configured here."), code="slack_not_configured")
    body = await request.body()
    verifier = SignatureVerifier(
        settings.slack_signing_secret.get_secret_value(), clock=_RelayClock()
    )
    try:
        # Also refuses a timestamp more than five minutes from now: a replay of an old one.
        valid = verifier.is_valid_request(body, request.headers)
    except (ValueError, UnicodeDecodeError):
        valid = False  # a timestamp that is no number, a body that is no text
    if not valid:
        raise Unauthenticated(
            N_("The Slack signature is missing, wrong or too old."), code="bad_signature"
        )
    return body


SlackBody = Annotated[bytes, Depends(verified_slack_body)]


def _payload(body: bytes) -> dict[str, Any]:
    """The interaction Slack posted as the form field `payload` (JSON)."""
    try:
        fields = parse_qs(body.decode(), strict_parsing=False)
        payload = json.loads(fields["payload"][0])
    except (KeyError, IndexError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        raise BadRequest(N_("The Slack interaction cannot be read."), code="bad_payload")
    return payload


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _who(payload: dict[str, Any]) -> str:
    """Who pressed the button, as Slack names them."""
    user = payload.get("user")
    if not isinstance(user, dict):
        return "Slack"
    names = (_text(user.get(key)) for key in ("name", "username", "id"))
    return next((name for name in names if name), "Slack")


def _posted_in(payload: dict[str, Any]) -> str:
    """The channel the pressed message is in."""
    for holder, key in (("channel", "id"), ("container", "channel_id")):
        found = payload.get(holder)
        if isinstance(found, dict) and _text(found.get(key)):
            return _text(found.get(key))
    return ""


def _is_its_channel(target: ChatTarget, channel: str) -> bool:
    """Whether the button was pressed in the destination's own channel.

    A message to a person is in the direct-message channel Slack opened (D…), which the
    destination (U…) does not name: only a channel destination can be compared.
    """
    address = target.destination.address
    return not channel or not address.startswith(("C", "G")) or channel == address


@router.post("/slack", status_code=status.HTTP_200_OK, response_class=Response)
def slack_interaction(body: SlackBody, session: SessionDep, settings: SettingsDep) -> Response:
    """A button pressed on a memo's message: the first press anywhere acknowledges the memo.

    Answered at once with an empty 200, as Slack expects; a press of the link button, a
    token that is not Relay's or a memo already acknowledged changes nothing.
    """
    payload = _payload(body)
    done = Response(status_code=status.HTTP_200_OK)
    actions = payload.get("actions")
    if payload.get("type") != "block_actions" or not isinstance(actions, list):
        return done
    for action in actions:
        if not isinstance(action, dict) or action.get("action_id") != ACK_ACTION_ID:
            continue
        token = _text(action.get("value"))
        target = (
            target_of_token(session=session, settings=settings, token=token, kind=Channel.slack)
            if token
            else None
        )
        if target is None or not _is_its_channel(target, _posted_in(payload)):
            continue
        acknowledge_from_chat(session=session, target=target, by=_who(payload), via=AckVia.slack)
    return done
