"""Acknowledging a memo through the API: by the company's own user, or by staff on its behalf."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from service.acks.service import AckVia, acknowledge
from service.api.memo_views import memo_out
from service.auth.models import Role
from service.companies.models import Company
from service.errors import Invalid, NotFound
from service.http_deps import CurrentUser, SessionDep, client_address
from service.i18n import N_
from service.memos.schema import MemoOut
from service.memos.service import get_memo
from service.web.csrf import CsrfProtected

router = APIRouter(prefix="/api/v1/memos", tags=["memos"])

ACK_HEADER = "X-Relay-Ack"


class AckIn(BaseModel):
    """Who at the company confirmed; optional for the company's own users."""

    model_config = ConfigDict(extra="forbid")

    by: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


@router.post(
    "/{memo_id}/ack",
    response_model=MemoOut,
    responses={
        200: {
            "description": f"The memo; header {ACK_HEADER} is `first` when this call "
            "acknowledged it and `already` when it had been acknowledged before.",
        }
    },
)
def ack_memo(
    memo_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
    _: CsrfProtected,
    data: Annotated[AckIn | None, Body()] = None,
) -> MemoOut:
    """Acknowledge a memo (idempotent). Staff must say who at the company confirmed (`by`)."""
    given = data.by if data is not None and data.by else None
    if user.role == Role.client:
        # A client user sees its own company only: any other memo does not exist for it.
        scope = user.company_id or "-"
        by = given or user.display_name or user.email
        via = AckVia.portal
    else:
        if given is None:
            raise Invalid(
                N_("Say who at the company confirmed the memo."), field="by", code="missing"
            )
        scope, by, via = None, given, AckVia.operator
    memo = get_memo(session=session, memo_id=memo_id, company_id=scope)
    if memo is None:
        raise NotFound(N_("No such memo."))
    result = acknowledge(
        session=session,
        memo_id=memo.id,
        by=by,
        via=via,
        recorded_by=user,
        ip=client_address(request),
    )
    if result is None:
        raise NotFound(N_("No such memo."))
    response.headers[ACK_HEADER] = "first" if result.first else "already"
    company = session.get(Company, result.memo.company_id)
    assert company is not None
    return memo_out(session=session, memo=result.memo, company=company)
