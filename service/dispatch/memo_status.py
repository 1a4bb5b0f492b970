"""A memo's relay status, as its deliveries make it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from service.dispatch.delivery_queue import deliveries_of
from service.dispatch.models import REPORTS, Delivery, DeliveryStatus
from service.memos import lifecycle
from service.memos.models import Memo, MemoStatus


def memo_status_from(deliveries: Sequence[Delivery]) -> MemoStatus:
    """A memo's relay status as its deliveries make it (reports about it left out)."""
    statuses = {d.status for d in deliveries if d.reason not in REPORTS}
    if DeliveryStatus.delivered in statuses:
        return MemoStatus.delivered
    if DeliveryStatus.sent in statuses:
        return MemoStatus.sent
    if statuses and statuses == {DeliveryStatus.failed}:
        return MemoStatus.failed
    return MemoStatus.relaying


def refresh_memo_status(*, session: Session, memo_id: str | None) -> Memo | None:
    """Bring a memo's status in line with its deliveries; tell the consoles when it moves."""
    if memo_id is None:
        return None  # a report of the company's day: no memo's status hangs on it
    # The memo's row is locked first: two deliveries settled at once each wait for the
    # other, so the second reads the first's outcome (on PostgreSQL each would otherwise
    # see the other still `sending`, and a memo that reached no one would stay `relaying`).
    memo = session.exec(
        select(Memo)
        .where(col(Memo.id) == memo_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if memo is None or memo.status == MemoStatus.acknowledged:
        return memo
    status = memo_status_from(deliveries_of(session=session, memo_id=memo_id))
    if status == memo.status:
        return memo
    lifecycle.set_relay_status(session=session, memo=memo, status=status)
    return memo
