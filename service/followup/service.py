"""Recording how a company handled a memo: kept, audited, and acknowledging it if need be."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service import clock
from service.acks.service import AckVia, acknowledge
from service.audit import service as audit
from service.audit.service import Action, Actor
from service.auth.models import User
from service.followup.schema import ResolutionIn
from service.memos import lifecycle
from service.memos.models import Memo
from service.memos.resolutions import MemoResolution, next_number


def resolve(
    *,
    session: Session,
    memo: Memo,
    data: ResolutionIn,
    by: str,
    via: AckVia,
    recorded_by: User | None = None,
    ip: str | None = None,
) -> MemoResolution:
    """Keep one account of how the company handled `memo` and mark it resolved or still open.

    A memo not yet acknowledged is acknowledged first, by the same person and path: nobody
    says how they handled a memo they have not seen.
    """
    if memo.acknowledged_at is None:
        acked = acknowledge(
            session=session, memo_id=memo.id, by=by, via=via, recorded_by=recorded_by, ip=ip
        )
        if acked is not None:
            memo = acked.memo
    # The memo's row is held until commit, so two accounts given at once are numbered in turn.
    session.execute(select(Memo.id).where(col(Memo.id) == memo.id).with_for_update())
    recorder = (recorded_by.display_name or recorded_by.email) if recorded_by else None
    resolution = MemoResolution(
        memo_id=memo.id,
        number=next_number(session=session, memo_id=memo.id),
        at=clock.now(),
        response=data.response,
        cause=data.cause,
        result=data.result,
        resolved=data.resolved,
        by=by[:200],
        via=via.value,
        recorded_by_user_id=recorded_by.id if recorded_by else None,
        recorded_by=recorder[:320] if recorder else None,
    )
    session.add(resolution)
    lifecycle.record_resolution(session=session, memo=memo, resolved=data.resolved)
    audit.record(
        session=session,
        actor=Actor(
            name=recorded_by.email if recorded_by else by,
            user_id=recorded_by.id if recorded_by else None,
            ip=ip,
        ),
        action=Action.memo_resolved,
        target=f"memo:{memo.id}",
        company_id=memo.company_id,
        detail={"by": by, "via": via.value, "resolved": "yes" if data.resolved else "no"},
    )
    return resolution
