"""What the chat hook tests build and check alike: a memo bound for chat, and that a refused
or unrelated post left it as it was."""

from __future__ import annotations

from sqlmodel import Session

from service.auth.models import User
from service.memos.models import Memo, MemoStatus
from service.settings import Settings
from tests.chat import make_chat_company, store_secrets
from tests.dispatch.conftest import take_memo
from tests.providers.chat.support import stored


def take_chat_memo(
    session: Session,
    operator: User,
    *kinds: str,
    settings: Settings | None = None,
    secrets: dict[str, str] | None = None,
) -> Memo:
    """A memo of the test company, which also sends to one destination of each `kind`."""
    make_chat_company(session, *kinds)
    if secrets:
        assert settings is not None, "secrets are stored as the settings say"
        store_secrets(session, settings, secrets)
    return take_memo(session, operator)


def assert_untouched(session: Session, memo: Memo) -> None:
    """The memo, as stored now, is not acknowledged by any path."""
    found = stored(session, memo)
    assert found.acknowledged_at is None
    assert found.status != MemoStatus.acknowledged
