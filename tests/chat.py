"""Building chat destinations and their secrets for tests (CONTRACT §8)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from service.audit.service import SYSTEM_ACTOR
from service.companies.models import Company
from service.secrets.service import set_secret
from service.settings import Settings
from tests.factories import make_company

# One valid destination of each kind; the secrets they name are set by `store_secrets`.
DESTINATIONS: dict[str, dict[str, Any]] = {
    "chatwork": {
        "key": "support-room",
        "kind": "chatwork",
        "room_id": "123456789",
        "mention": ["1234567"],
        "secret": "sakura-chatwork",
        "webhook_secret": "sakura-chatwork-hook",
    },
    "slack": {"key": "ops", "kind": "slack", "channel": "C0123ABCD", "secret": "sakura-slack"},
    "lineworks": {
        "key": "desk",
        "kind": "lineworks",
        "bot_id": "2000001",
        "channel_id": "a1b2c3d4-channel",
        "client_id": "client-abc",
        "service_account": "abc.serviceaccount@sakura.example",
        "secret": "sakura-lineworks-key",
        "client_secret": "sakura-lineworks-client",
        "bot_secret": "sakura-lineworks-bot",
    },
    "line": {
        "key": "owner",
        "kind": "line",
        "to": "U" + "4af4980629" * 3 + "ab",
        "secret": "sakura-line-token",
        "signing_secret": "sakura-line-channel",
    },
    "teams": {"key": "team", "kind": "teams", "secret": "sakura-teams"},
    "webhook": {
        "key": "crm",
        "kind": "webhook",
        "url": "https://crm.example.jp/relay",
        "secret": "sakura-webhook",
    },
}


def destination(kind: str, **overrides: Any) -> dict[str, Any]:
    """A valid destination document of `kind`; any key can be replaced."""
    return {**DESTINATIONS[kind], **overrides}


def make_chat_company(
    session: Session, *kinds: str, extra: list[dict[str, Any]] | None = None, **overrides: Any
) -> Company:
    """The default test company whose every memo also goes to one destination of each `kind`."""
    destinations = [destination(kind) for kind in kinds] + list(extra or [])
    chat = [d["key"] for d in destinations]
    routing = [
        {
            "notify": ["office", *chat],
            "channels": ["email", *sorted({d["kind"] for d in destinations})],
        }
    ]
    document: dict[str, Any] = {"destinations": destinations, "routing": routing}
    document.update(overrides)
    return make_company(session, **document)


def store_secrets(session: Session, settings: Settings, values: dict[str, str]) -> None:
    """Set stored secrets by name, as an admin would, and commit."""
    for name, value in values.items():
        set_secret(session=session, name=name, value=value, settings=settings, actor=SYSTEM_ACTOR)
    session.commit()
