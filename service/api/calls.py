"""Call routes for the console: active calls, a call's details, picking up, caller flags."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from service.api.call_views import call_detail, call_summaries, caller_out, flag_out
from service.auth.models import Role
from service.calls import service as calls
from service.calls.models import Call
from service.calls.schema import CallDetail, CallerFlagOut, CallerOut, CallList, CallSummary
from service.companies.models import Company
from service.companies.service import company_config, get_company
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.http_deps import CurrentOperator, CurrentStaff, SessionDep, SettingsDep
from service.i18n import N_
from service.phones import PhoneNumberError, to_e164
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["calls"], dependencies=[Depends(verify_csrf)])


def _phone(raw: str) -> str:
    try:
        return to_e164(raw)
    except PhoneNumberError as error:
        error.field = "phone"
        raise


@router.get("/calls", response_model=CallList)
def list_calls(session: SessionDep, _user: CurrentStaff, active: bool = False) -> CallList:
    """Calls ringing or in progress (`active=true`), else the latest; each says who answered."""
    if active:
        rows = calls.active_calls(session=session)
    else:
        found = session.exec(
            select(Call, Company)
            .join(Company, col(Company.id) == col(Call.company_id))
            .order_by(col(Call.started_at).desc())
            .limit(50)
        ).all()
        rows = [(call, company) for call, company in found]
    return CallList(items=call_summaries(session=session, rows=rows))


def _call_or_404(session: SessionDep, call_id: str) -> tuple[Call, Company]:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(N_("No such call."))
    return call, calls.company_of(session=session, call=call)


def _summary(session: SessionDep, call: Call, company: Company) -> CallSummary:
    return call_summaries(session=session, rows=[(call, company)])[0]


@router.get("/calls/{call_id}", response_model=CallDetail)
def read_call(call_id: str, session: SessionDep, _user: CurrentStaff) -> CallDetail:
    """A call with its company's greeting and script and the caller's history."""
    call, company = _call_or_404(session, call_id)
    return call_detail(session=session, call=call, company=company)


@router.post(
    "/calls/{call_id}/answer",
    response_model=CallDetail,
    responses={
        404: {"description": "`not_found`: no such call"},
        409: {"description": "`call_taken`: another operator answered it; `detail` names them"},
    },
)
def answer_call(call_id: str, session: SessionDep, operator: CurrentOperator) -> CallDetail:
    """Pick up a call: it is yours alone, and its memo form opens. Answering again is harmless."""
    call = calls.answer_call(session=session, call_id=call_id, operator_id=operator.id)
    return call_detail(
        session=session, call=call, company=calls.company_of(session=session, call=call)
    )


class SimulatedCall(BaseModel):
    client: str = Field(min_length=1, max_length=64)
    from_: str = Field(alias="from", min_length=1, max_length=40)


@router.post("/calls/simulate", status_code=status.HTTP_201_CREATED, response_model=CallSummary)
def simulate_call(
    data: SimulatedCall, session: SessionDep, settings: SettingsDep, _user: CurrentStaff
) -> CallSummary:
    """Ring the consoles as if a caller dialled the company (only without Twilio)."""
    if settings.twilio_enabled:
        raise Conflict(N_("Real calls come from Twilio here."), code="twilio_enabled")
    company = get_company(session=session, slug=data.client)
    if company is None:
        raise Invalid(
            N_("No client company %(slug)s."),
            field="client",
            code="unknown_client",
            slug=data.client,
        )
    config = company_config(company)
    try:
        caller = to_e164(data.from_, country=config.country)
    except PhoneNumberError as error:
        error.field = "from"
        raise
    call, _ = calls.record_inbound_call(
        session=session,
        company=company,
        call_sid="SIM" + secrets.token_hex(16),
        from_number=caller,
        to_number=config.phone_numbers[0],
        source="simulated",
    )
    return _summary(session, call, company)


@router.post(
    "/calls/{call_id}/hangup",
    response_model=CallSummary,
    responses={
        403: {"description": "`call_taken`: another operator answered it; they or an admin end it"},
        404: {"description": "`not_found`: no such call"},
        409: {"description": "`real_call`: a real call ends on the phone"},
    },
)
def hang_up(call_id: str, session: SessionDep, user: CurrentStaff) -> CallSummary:
    """End a simulated call: the operator who answered it, an admin, or anyone if nobody did."""
    call, company = _call_or_404(session, call_id)
    if call.source != "simulated":
        raise Conflict(N_("A real call ends on the phone."), code="real_call")
    try:
        call = calls.end_call(
            session=session,
            call_id=call_id,
            operator_id=user.id,
            supervisor=user.role == Role.admin,
        )
    except calls.CallTaken as taken:
        raise Forbidden(
            N_("%(name)s has this call: only they or an admin can end it."),
            code="call_taken",
            name=taken.operator_name,
        ) from None
    return _summary(session, call, company)


@router.get("/callers/{phone}", response_model=CallerOut)
def read_caller(phone: str, session: SessionDep, _user: CurrentStaff) -> CallerOut:
    """A caller's earlier calls, memos and flags."""
    return caller_out(session=session, phone=_phone(phone))


class FlagIn(BaseModel):
    kind: Annotated[str, Field(pattern="^(harassment|abusive|repeat|other)$")] = "harassment"
    note: str = Field(min_length=1, max_length=2000)


@router.post(
    "/callers/{phone}/flags", status_code=status.HTTP_201_CREATED, response_model=CallerFlagOut
)
def flag_caller(phone: str, data: FlagIn, session: SessionDep, user: CurrentStaff) -> CallerFlagOut:
    """Warn every operator about this caller from now on."""
    flag = calls.flag_caller(
        session=session, phone=_phone(phone), kind=data.kind, note=data.note, flagged_by=user.id
    )
    return flag_out(session, flag)


@router.delete("/flags/{flag_id}", response_model=CallerFlagOut)
def clear_flag(flag_id: str, session: SessionDep, user: CurrentStaff) -> CallerFlagOut:
    """Lift a flag; it stays on record, and so does who lifted it."""
    flag = calls.clear_flag(session=session, flag_id=flag_id, cleared_by=user.id)
    return flag_out(session, flag)
