"""Acknowledging a memo: the first acknowledgement wins and stops escalation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from service.escalation.tasks import close_callbacks
from service.memos import lifecycle
from service.memos.lifecycle import AckVia
from service.memos.models import Memo

__all__ = ["AckResult", "AckVia", "acknowledge"]


@dataclass(frozen=True)
class AckResult:
    memo: Memo
    first: bool  # False when someone had already acknowledged it


def acknowledge(*, session: Session, memo_id: str, by: str, via: AckVia) -> AckResult | None:
    """Mark a memo seen; later acknowledgements change nothing. None if there is no such memo."""
    memo, first = lifecycle.acknowledge(session=session, memo_id=memo_id, by=by, via=via)
    if memo is None:
        return None
    if first:
        close_callbacks(session=session, memo_id=memo_id, note=f"acknowledged ({via.value})")
    return AckResult(memo=memo, first=first)
