"""LINE WORKS bot callbacks: the acknowledge postback of a memo's message (CONTRACT §8)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from service import clock
from service.acks.chat import acknowledge_from_chat, target_of_token
from service.acks.service import AckVia
from service.channels import Channel
from service.errors import BadRequest, Unauthenticated
from service.http_deps import SessionDep, SettingsDep
from service.i18n import N_

log = logging.getLogger(__name__)

router = APIRouter(prefix="/hooks", tags=["chat"])

SIGNATURE_HEADER = "X-WORKS-Signature"
BOT_HEADER = "X-WORKS-BotId"
# LINE WORKS signs the body alone; the time it wrote into it bounds a replay.
MAX_AGE = timedelta(minutes=5)
BY_MAX_CHARS = 200
# Who acknowledged, when the callback names nobody.
UNNAMED = "LINE WORKS"


class LineWorksHookAnswer(BaseModel):
    """What came of a callback: the memo acknowledged now, earlier, or nothing to do."""

    result: Literal["acknowledged", "already", "ignored"]


@dataclass(frozen=True)
class _Callback:
    body: bytes
    signature: str | None
    bot_id: str | None


async def _callback(request: Request) -> _Callback:
    return _Callback(
        body=await request.body(),
        signature=request.headers.get(SIGNATURE_HEADER),
        bot_id=request.headers.get(BOT_HEADER),
    )


Callback = Annotated[_Callback, Depends(_callback)]


def signature_of(*, bot_secret: str, body: bytes) -> str:
    """The X-WORKS-Signature LINE WORKS sends with `body`: base64 of its HMAC-SHA256."""
    digest = hmac.new(bot_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _refused() -> Unauthenticated:
    return Unauthenticated(
        N_("The LINE WORKS signature is missing or not valid."), code="bad_signature"
    )


def _issued_at(event: dict[str, Any]) -> datetime | None:
    value = event.get("issuedTime")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _by(event: dict[str, Any]) -> str:
    source = event.get("source")
    found = source.get("userId") if isinstance(source, dict) else None
    name = found.strip() if isinstance(found, str) else ""
    return name[:BY_MAX_CHARS] or UNNAMED


@router.post("/lineworks", response_model=LineWorksHookAnswer)
def lineworks_hook(
    callback: Callback, session: SessionDep, settings: SettingsDep
) -> LineWorksHookAnswer:
    """A postback from a memo's acknowledge button: checked against its bot's secret, then
    the memo is acknowledged before the answer goes (LINE WORKS never sends a callback twice).
    """
    if not callback.signature:
        raise _refused()
    try:
        event = json.loads(callback.body)
    except ValueError as error:
        raise BadRequest(N_("This is not a LINE WORKS callback."), code="not_a_callback") from error
    if not isinstance(event, dict) or event.get("type") != "postback":
        return LineWorksHookAnswer(result="ignored")
    token = event.get("data")
    if not isinstance(token, str) or not token:
        return LineWorksHookAnswer(result="ignored")
    # The token names the memo and destination, so the bot whose secret signed the body.
    target = target_of_token(
        session=session, settings=settings, token=token, kind=Channel.lineworks
    )
    if target is None:
        return LineWorksHookAnswer(result="ignored")
    bot_secret = target.secret(session=session, settings=settings, field="bot_secret")
    if not bot_secret:
        log.warning(
            "lineworks callback for destination %s refused: its bot secret is not set",
            target.destination.key,
        )
        raise _refused()
    expected = signature_of(bot_secret=bot_secret, body=callback.body)
    if not hmac.compare_digest(expected.encode(), callback.signature.encode()):
        raise _refused()
    bot_id = getattr(target.destination, "bot_id", None)
    if callback.bot_id is not None and callback.bot_id != bot_id:
        raise _refused()
    issued = _issued_at(event)
    if issued is None or abs(clock.now() - issued) > MAX_AGE:
        raise Unauthenticated(
            N_("The LINE WORKS callback is too old to be trusted."), code="stale_signature"
        )
    result = acknowledge_from_chat(
        session=session, target=target, by=_by(event), via=AckVia.lineworks
    )
    if result is None:
        return LineWorksHookAnswer(result="ignored")
    return LineWorksHookAnswer(result="acknowledged" if result.first else "already")
