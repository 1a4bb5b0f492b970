"""Recording how a company handled a memo (CONTRACT §9): its own users, or staff for it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.acks.service import AckVia
from service.api.memo_views import memo_out
from service.auth.models import Role
from service.companies.models import Company
from service.errors import NotFound
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.http_deps import CurrentUser, SessionDep, client_address
from service.i18n import N_
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
