"""Recording how a company handled a memo (CONTRACT §9): its own users, or staff for it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.acks.service import AckVia
from service.api.memo_views import memo_out
from service.audit.service import Actor
from service.auth.models import Role, User
from service.companies.models import Company
from service.errors import NotFound
from service.followup.reminders import set_deadline
from service.followup.schema import FollowUpDueIn, ResolutionIn
from service.followup.service import resolve
from service.http_deps import CurrentUser, SessionDep, client_address
from service.i18n import N_
from service.memos.models import Memo
from service.memos.schema import MemoOut
from service.memos.service import get_memo
from service.web.csrf import CsrfProtected

router = APIRouter(prefix="/api/v1/memos", tags=["memos"])


@router.post("/{memo_id}/resolution", response_model=MemoOut)
def record_resolution(
    memo_id: str,
    data: ResolutionIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    _: CsrfProtected,
) -> MemoOut:
    """Record how the company handled a memo; every call is kept and the latest is shown.

    A memo not yet acknowledged is acknowledged by the same call."""
    if user.role == Role.client:
        # A client user sees its own company only: any other memo does not exist for it.
        scope: str | None = user.company_id or "-"
        via = AckVia.portal
    else:
        scope, via = None, AckVia.operator
    memo = get_memo(session=session, memo_id=memo_id, company_id=scope)
    if memo is None:
        raise NotFound(N_("No such memo."))
    by = data.by or user.display_name or user.email
    resolve(
        session=session,
        memo=memo,
        data=data,
        by=by,
        via=via,
        recorded_by=user,
        ip=client_address(request),
    )
    company = session.get(Company, memo.company_id)
    assert company is not None
    return memo_out(session=session, memo=memo, company=company)


def _visible_memo(*, session: SessionDep, user: User, memo_id: str) -> Memo:
    """The memo as `user` may see it: a client user sees its own company's only."""
    # Any other company's memo does not exist for a client user.
    scope = (user.company_id or "-") if user.role == Role.client else None
    memo = get_memo(session=session, memo_id=memo_id, company_id=scope)
    if memo is None:
        raise NotFound(N_("No such memo."))
    return memo


@router.put("/{memo_id}/follow-up", response_model=MemoOut)
def set_follow_up_due(
    memo_id: str,
    data: FollowUpDueIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    _: CsrfProtected,
) -> MemoOut:
    """Set by when the company should resolve an open memo; its reminders follow the new time."""
    memo = _visible_memo(session=session, user=user, memo_id=memo_id)
    set_deadline(
        session=session,
        memo=memo,
        due=data.due,
        actor=Actor(name=user.email, user_id=user.id, ip=client_address(request)),
    )
    company = session.get(Company, memo.company_id)
    assert company is not None
    return memo_out(session=session, memo=memo, company=company)
