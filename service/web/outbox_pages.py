"""The dev outbox: what Relay would have sent, for staff, while a channel has no real provider."""

from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response, status
from markupsafe import Markup, escape

from service.auth.models import Role
from service.channels import Channel
from service.errors import NotFound
from service.http_deps import CurrentStaff, OptionalUser, SessionDep
from service.i18n import N_
from service.messages.sms import count_sms
from service.providers import outbox, registry
from service.providers.models import OutboxMessage
from service.settings import Settings
from service.web.auth_pages import login_redirect

STAFF_ROLES = (Role.admin, Role.operator)
PAGE_LIMIT = 100
JSON_LIMIT_MAX = 500
DISPLAY_ZONE = ZoneInfo("Asia/Tokyo")
# Links in Relay's messages are ASCII URLs; stop before Japanese text or closing punctuation.
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_TRAILING = ".,;:!?'()[]"


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


def _view(message: OutboxMessage) -> dict[str, Any]:
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
    }


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
        "messages": [_view(message) for message in messages],
        "outbox_channels": sorted(registry.outbox_channels(settings=settings)),
    }
    response: Response = templates.TemplateResponse(request, "outbox.html", context)
    return response


@router.get("/dev/outbox.json")
def outbox_json(
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
    items = []
    for message in messages:
        view = _view(message)
        del view["text_html"], view["created_local"]
        items.append(view)
    return {"items": items}
