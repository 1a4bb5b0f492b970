"""Caller notes and caller policies: what a company (or the bureau for it) keeps about one
caller of that company, and how it wants them handled. Staff name the company with
`?company=slug`; a company's own users act for their company only and see no other's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from service.api.call_views import note_outs, policy_out
from service.auth.models import Role, User
from service.calls import caller_notes as notes
from service.calls import caller_policies as policies
from service.calls.schema import CallerNoteList, CallerNoteOut, CallerPolicyList, CallerPolicyOut
from service.companies.models import Company
from service.companies.service import company_config, get_company
from service.errors import Forbidden, Invalid, NotFound
from service.http_deps import CurrentUser, SessionDep, actor_of
from service.i18n import N_
from service.phones import PhoneNumberError, to_e164
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["calls"], dependencies=[Depends(verify_csrf)])

CompanyQuery = Annotated[str | None, Query(alias="company", max_length=64)]

_COMMON: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such company, note or policy for you"},
    422: {"description": "`bad_phone`: not a phone number; `missing`: staff name no company"},
}


def _company(session: Session, user: User, slug: str | None, *, required: bool) -> Company | None:
    """The company a request acts for: a client user's own; for staff, the one named."""
    if user.role == Role.client:
        own = session.get(Company, user.company_id) if user.company_id else None
        # Another company's callers do not exist for a company's user.
        if own is None or (slug is not None and slug != own.slug):
            raise NotFound(N_("No such client company."))
        return own
    if slug is None:
        if required:
            raise Invalid(
                N_("Name the company with ?company=slug."), field="company", code="missing"
            )
        return None
    company = get_company(session=session, slug=slug)
    if company is None:
        raise NotFound(N_("No such client company."), field="company")
    return company


def _phone(raw: str, company: Company | None) -> str:
    country = company_config(company).country if company is not None else "JP"
    try:
        return to_e164(raw, country=country)
    except PhoneNumberError as error:
        error.field = "phone"
        raise


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=notes.NOTE_MAX)


@router.get("/callers/{phone}/notes", response_model=CallerNoteList, responses=_COMMON)
def list_notes(
    phone: str, session: SessionDep, user: CurrentUser, company: CompanyQuery = None
) -> CallerNoteList:
    """Notes about a caller, newest first: a company's own; staff, every company's or one's."""
    found = _company(session, user, company, required=False)
    number = _phone(phone, found)
    rows = notes.caller_notes(session=session, phone=number, company_id=found.id if found else None)
    return CallerNoteList(items=note_outs(session=session, notes=rows))


@router.post(
    "/callers/{phone}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=CallerNoteOut,
    responses=_COMMON,
)
def add_note(
    phone: str,
    data: NoteIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    company: CompanyQuery = None,
) -> CallerNoteOut:
    """Keep a note about a caller of one company; audited."""
    found = _company(session, user, company, required=True)
    assert found is not None
    note = notes.add_caller_note(
        session=session,
        company_id=found.id,
        phone=_phone(phone, found),
        text=data.text,
        actor=actor_of(request, user),
    )
    return note_outs(session=session, notes=[note])[0]


@router.delete(
    "/callers/{phone}/notes/{note_id}",
    response_model=CallerNoteOut,
    responses={
        **_COMMON,
        403: {"description": "`forbidden`: only who wrote a note, or an admin, removes it"},
    },
)
def delete_note(
    phone: str, note_id: str, request: Request, session: SessionDep, user: CurrentUser
) -> CallerNoteOut:
    """Remove a note (its writer or an admin); the audit trail keeps what it said."""
    own = _company(session, user, None, required=False)
    note = notes.get_caller_note(session=session, note_id=note_id, phone=_phone(phone, own))
    if not notes.may_read_company(user=user, company_id=note.company_id):
        raise NotFound(N_("No such note."))
    if not notes.may_delete_note(user=user, note=note):
        raise Forbidden(N_("Only who wrote a note, or an admin, may remove it."))
    removed = note_outs(session=session, notes=[note])[0]
    notes.delete_caller_note(session=session, note=note, actor=actor_of(request, user))
    return removed


class PolicyIn(BaseModel):
    text: str = Field(min_length=1, max_length=policies.POLICY_MAX)
    time_limit_minutes: int | None = Field(
        default=None, ge=policies.LIMIT_MIN, le=policies.LIMIT_MAX
    )


_POLICY_WRITE: dict[int | str, dict[str, Any]] = {
    **_COMMON,
    403: {"description": "`forbidden`: operators read a policy; an admin or the company sets it"},
}


def _may_set(user: User, company: Company) -> None:
    if not policies.may_set_policy(user=user, company_id=company.id):
        raise Forbidden(N_("Only an admin or the company's own users set a caller's policy."))


@router.get("/callers/{phone}/policy", response_model=CallerPolicyList, responses=_COMMON)
def list_policies(
    phone: str, session: SessionDep, user: CurrentUser, company: CompanyQuery = None
) -> CallerPolicyList:
    """How companies want this caller handled: a company's own; staff, every company's."""
    found = _company(session, user, company, required=False)
    number = _phone(phone, found)
    if found is not None:
        one = policies.caller_policy(session=session, company_id=found.id, phone=number)
        rows = [one] if one is not None else []
    else:
        rows = policies.caller_policies(session=session, phone=number)
    return CallerPolicyList(items=[policy_out(session=session, policy=p) for p in rows])


@router.put("/callers/{phone}/policy", response_model=CallerPolicyOut, responses=_POLICY_WRITE)
def set_policy(
    phone: str,
    data: PolicyIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    company: CompanyQuery = None,
) -> CallerPolicyOut:
    """Give (or replace) the company's instruction for this caller and its time limit; audited."""
    found = _company(session, user, company, required=True)
    assert found is not None
    _may_set(user, found)
    policy = policies.set_caller_policy(
        session=session,
        company_id=found.id,
        phone=_phone(phone, found),
        text=data.text,
        time_limit_minutes=data.time_limit_minutes,
        actor=actor_of(request, user),
    )
    return policy_out(session=session, policy=policy)


@router.delete("/callers/{phone}/policy", response_model=CallerPolicyOut, responses=_POLICY_WRITE)
def clear_policy(
    phone: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    company: CompanyQuery = None,
) -> CallerPolicyOut:
    """Withdraw the company's instruction for this caller; answers with the one withdrawn."""
    found = _company(session, user, company, required=True)
    assert found is not None
    _may_set(user, found)
    number = _phone(phone, found)
    policy = policies.caller_policy(session=session, company_id=found.id, phone=number)
    if policy is None:
        raise NotFound(N_("This company has no policy for this caller."))
    withdrawn = policy_out(session=session, policy=policy)
    policies.clear_caller_policy(
        session=session, company_id=found.id, phone=number, actor=actor_of(request, user)
    )
    return withdrawn
