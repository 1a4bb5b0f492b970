"""Memo routes: operators take memos; staff and the company's own users read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from sqlmodel import Session

from service.api.memo_views import memo_out, memos_out, taken_memo_out
from service.api.values import ZonedTime
from service.auth.models import Role, User
from service.companies.models import Company
from service.errors import NotFound
from service.escalation.trail import MemoTrail, memo_trail
from service.http_deps import CurrentOperator, CurrentUser, SessionDep
from service.i18n import N_
from service.intake import service as intake
from service.memos import service as memos
from service.memos.models import Category, Memo, MemoStatus, Urgency
from service.memos.schema import MemoIn, MemoOut, MemoPage
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1/memos", tags=["memos"], dependencies=[Depends(verify_csrf)])


def _scope(user: User) -> str | None:
    """The company a user is confined to; None for staff, who see every company."""
    if user.role == Role.client:
        return user.company_id or "-"
    return None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MemoOut,
    responses={200: {"model": MemoOut, "description": "A repeat: the first memo"}},
)
def take_memo(
    data: MemoIn,
    session: SessionDep,
    operator: CurrentOperator,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> Response:
    """Take a memo. Repeating a request with the same Idempotency-Key returns the first memo."""
    taken = intake.create_memo(
        session=session, data=data, operator=operator, idempotency_key=idempotency_key
    )
    out = taken_memo_out(session=session, taken=taken, operator=operator)
    # Answered as built: MemoOut is already validated, so FastAPI need not validate it again.
    return Response(
        out.model_dump_json(),
        status_code=status.HTTP_201_CREATED if taken.created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get("", response_model=MemoPage)
def list_memos(
    session: SessionDep,
    user: CurrentUser,
    client: str | None = None,
    status_filter: Annotated[MemoStatus | None, Query(alias="status")] = None,
    category: Category | None = None,
    urgency: Urgency | None = None,
    since: ZonedTime | None = None,
    until: ZonedTime | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemoPage:
    """Memos newest first, filtered; a client user sees only its own company's.

    `q` finds words in the subject, details, caller's name and company and the custom
    fields' values, and a phone number in any form it is written (by its digits)."""
    page, next_cursor = memos.list_memos(
        session=session,
        company_id=_scope(user),
        client_slug=client,
        status=status_filter,
        category=category,
        urgency=urgency,
        since=since,
        until=until,
        query=q,
        cursor=cursor,
        limit=limit,
    )
    return MemoPage(items=memos_out(session=session, rows=page), next_cursor=next_cursor)


def _readable_memo(*, session: Session, memo_id: str, user: User) -> tuple[Memo, Company]:
    """A memo the user may read and its company; another company's memo is not found."""
    memo = memos.get_memo(session=session, memo_id=memo_id, company_id=_scope(user))
    if memo is None:
        raise NotFound(N_("No such memo."))
    company = session.get(Company, memo.company_id)
    assert company is not None
    return memo, company


@router.get("/{memo_id}", response_model=MemoOut)
def read_memo(memo_id: str, session: SessionDep, user: CurrentUser) -> MemoOut:
    """One memo; another company's memo is not found."""
    memo, company = _readable_memo(session=session, memo_id=memo_id, user=user)
    return memo_out(session=session, memo=memo, company=company)


@router.get("/{memo_id}/trail", response_model=MemoTrail)
def read_memo_trail(memo_id: str, session: SessionDep, user: CurrentUser) -> MemoTrail:
    """What happened to a memo: deliveries and the provider's answers, escalation steps
    fired, the acknowledgement and callbacks; another company's memo is not found."""
    memo, company = _readable_memo(session=session, memo_id=memo_id, user=user)
    return memo_trail(session=session, memo=memo, company=company)
