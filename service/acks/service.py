"""Acknowledging a memo: the first acknowledgement wins and stops escalation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from service.audit import service as audit
from service.audit.service import Action, Actor
from service.auth.models import Role, User
from service.dispatch.chat_updates import enqueue_acknowledged
from service.escalation.tasks import close_callbacks
from service.memos import lifecycle
from service.memos.lifecycle import AckVia
from service.memos.models import Memo

__all__ = ["AckResult", "AckVia", "acknowledge"]


@dataclass(frozen=True)
class AckResult:
    memo: Memo
    first: bool  # False when someone had already acknowledged it


def acknowledge(
    *,
    session: Session,
    memo_id: str,
    by: str,
    via: AckVia,
    recorded_by: User | None = None,
    ip: str | None = None,
) -> AckResult | None:
    """Mark a memo seen; later acknowledgements change nothing. None if there is no such memo.

    `recorded_by` is the Relay user who entered it; staff doing so for the company is audited.
    """
    memo, first = lifecycle.acknowledge(
        session=session, memo_id=memo_id, by=by, via=via, recorded_by=recorded_by
    )
    if memo is None:
        return None
    if first:
        close_callbacks(session=session, memo_id=memo_id, note=f"acknowledged ({via.value})")
        enqueue_acknowledged(session=session, memo=memo)
        if recorded_by is not None and recorded_by.role != Role.client:
            audit.record(
                session=session,
                actor=Actor(name=recorded_by.email, user_id=recorded_by.id, ip=ip),
                action=Action.memo_acknowledged_for,
                target=f"memo:{memo_id}",
                company_id=memo.company_id,
                detail={"by": by, "via": via.value},
            )
    return AckResult(memo=memo, first=first)
