"""The caller pages' forms: keep a note about a caller, remove one, set or clear the policy.

Staff post to /callers/{phone}/… naming the company (only an admin sets a policy there); a
company's users post to /portal/callers/{phone}/… for their own company. A refused form shows
the page again with what was entered and what is wrong (422); a kept one goes back to it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service.auth.models import Role, User
from service.calls import caller_notes as notes
from service.calls import caller_policies as policies
from service.companies.models import Company
from service.companies.service import company_config, get_company
from service.errors import NotFound, RelayError
from service.http_deps import OptionalUser, SessionDep, actor_of
from service.i18n import N_, translate
from service.phones import to_e164
from service.web.caller_notes_view import CallerForms, NoteForm, PolicyForm
from service.web.caller_pages import (
    caller_url,
    client_company,
    portal_caller_page_of,
    staff_caller_page,
)
from service.web.csrf import CsrfProtected
from service.web.pages import STAFF_ROLES, refusal_page
from service.web.templating import page_locale

router = APIRouter(include_in_schema=False)

_CHOOSE_COMPANY = N_("Choose the company.")
_LIMIT = N_("A time limit is from %(min)d to %(max)d minutes.")


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _back(number: str, *, portal: bool, anchor: str) -> Response:
    return RedirectResponse(
        f"{caller_url(number, portal=portal)}#{anchor}", status_code=status.HTTP_303_SEE_OTHER
    )


def _minutes(raw: str) -> int | None:
    """The time limit as entered: none when blank; a refusal when not a whole number."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdecimal():
        raise policies.CallerPolicyError(
            _LIMIT, field="time_limit_minutes", min=policies.LIMIT_MIN, max=policies.LIMIT_MAX
        )
    return int(raw)


class _Page:
    """Where a form was posted from: the staff's page or a company's, and how to show it again."""

    def __init__(
        self, request: Request, session: Session, user: User, company: Company | None
    ) -> None:
        self.request, self.session, self.user, self.company = request, session, user, company

    @property
    def portal(self) -> bool:
        return self.company is not None

    def number(self, phone: str) -> str:
        country = company_config(self.company).country if self.company is not None else "JP"
        return to_e164(phone, country=country)

    def again(self, number: str, forms: CallerForms) -> Response:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
        if self.company is not None:
            return portal_caller_page_of(
                self.request,
                self.session,
                self.user,
                self.company,
                number,
                forms=forms,
                status_code=code,
            )
        return staff_caller_page(
            self.request, self.session, self.user, number, forms=forms, status_code=code
        )

    def refused(self, error: RelayError) -> str:
        return error.text(page_locale(self.request))

    def target(self, slug: str) -> Company | None:
        """The company a form acts for: the user's own in the portal, else the one chosen."""
        if self.company is not None:
            return self.company
        return get_company(session=self.session, slug=slug) if slug else None


def _staff(request: Request, session: Session, user: User | None) -> _Page | Response:
    refused = refusal_page(request, user, STAFF_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    return _Page(request, session, user, None)


def _portal(request: Request, session: Session, user: User | None) -> _Page | Response:
    found = client_company(request, session, user)
    if isinstance(found, Response):
        return found
    me, company = found
    return _Page(request, session, me, company)


async def _add_note(page: _Page, phone: str) -> Response:
    number = page.number(phone)
    form = await page.request.form()
    entered = NoteForm(company=_text(form.get("company")), text=_text(form.get("text")))
    company = page.target(entered.company)
    if company is None:
        error = translate(page_locale(page.request), _CHOOSE_COMPANY)
        return page.again(number, CallerForms(note=NoteForm(**{**vars(entered), "error": error})))
    try:
        notes.add_caller_note(
            session=page.session,
            company_id=company.id,
            phone=number,
            text=entered.text,
            actor=actor_of(page.request, page.user),
        )
    except notes.CallerNoteError as refused:
        failed = NoteForm(company=entered.company, text=entered.text, error=page.refused(refused))
        return page.again(number, CallerForms(note=failed))
    return _back(number, portal=page.portal, anchor="caller-notes")


def _delete_note(page: _Page, phone: str, note_id: str) -> Response:
    number = page.number(phone)
    note = notes.get_caller_note(session=page.session, note_id=note_id, phone=number)
    if page.company is not None and note.company_id != page.company.id:
        raise NotFound(N_("No such note."))
    if not notes.may_delete_note(user=page.user, note=note):
        refused = refusal_page(page.request, page.user, (Role.admin,))
        assert refused is not None
        return refused
    notes.delete_caller_note(
        session=page.session, note=note, actor=actor_of(page.request, page.user)
    )
    return _back(number, portal=page.portal, anchor="caller-notes")


async def _set_policy(page: _Page, phone: str) -> Response:
    number = page.number(phone)
    form = await page.request.form()
    entered = PolicyForm(
        company=_text(form.get("company")),
        text=_text(form.get("text")),
        minutes=_text(form.get("time_limit_minutes")),
    )
    company = page.target(entered.company)
    if company is None:
        error = translate(page_locale(page.request), _CHOOSE_COMPANY)
        return page.again(
            number, CallerForms(policy=PolicyForm(**{**vars(entered), "error": error}))
        )
    try:
        policies.set_caller_policy(
            session=page.session,
            company_id=company.id,
            phone=number,
            text=entered.text,
            time_limit_minutes=_minutes(entered.minutes),
            actor=actor_of(page.request, page.user),
        )
    except policies.CallerPolicyError as refused:
        failed = PolicyForm(**{**vars(entered), "error": page.refused(refused)})
        return page.again(number, CallerForms(policy=failed))
    return _back(number, portal=page.portal, anchor="caller-policy")


async def _clear_policy(page: _Page, phone: str) -> Response:
    number = page.number(phone)
    form = await page.request.form()
    company = page.target(_text(form.get("company")))
    if company is None:
        raise NotFound(N_("No such client company."))
    policies.clear_caller_policy(
        session=page.session,
        company_id=company.id,
        phone=number,
        actor=actor_of(page.request, page.user),
    )
    return _back(number, portal=page.portal, anchor="caller-policy")


def _admin_only(page: _Page) -> Response | None:
    # Operators read a company's policy; an admin sets it for the company.
    return refusal_page(page.request, page.user, (Role.admin,))


@router.post("/callers/{phone}/notes")
async def staff_add_note(
    phone: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Keep a note about the caller for the company chosen; audited."""
    page = _staff(request, session, user)
    return page if isinstance(page, Response) else await _add_note(page, phone)


@router.post("/callers/{phone}/notes/{note_id}/delete")
def staff_delete_note(
    phone: str,
    note_id: str,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
) -> Response:
    """Remove a note: whoever wrote it, or an admin; audited."""
    page = _staff(request, session, user)
    return page if isinstance(page, Response) else _delete_note(page, phone, note_id)


@router.post("/callers/{phone}/policy")
async def staff_set_policy(
    phone: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """An admin sets how the company chosen wants the caller handled; audited."""
    page = _staff(request, session, user)
    if isinstance(page, Response):
        return page
    return _admin_only(page) or await _set_policy(page, phone)


@router.post("/callers/{phone}/policy/clear")
async def staff_clear_policy(
    phone: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """An admin withdraws a company's policy for the caller; audited."""
    page = _staff(request, session, user)
    if isinstance(page, Response):
        return page
    return _admin_only(page) or await _clear_policy(page, phone)


@router.post("/portal/callers/{phone}/notes")
async def portal_add_note(
    phone: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Keep a note about the caller for the user's company; audited."""
    page = _portal(request, session, user)
    return page if isinstance(page, Response) else await _add_note(page, phone)


@router.post("/portal/callers/{phone}/notes/{note_id}/delete")
def portal_delete_note(
    phone: str,
    note_id: str,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
) -> Response:
    """Remove a note the user wrote; audited."""
    page = _portal(request, session, user)
    return page if isinstance(page, Response) else _delete_note(page, phone, note_id)


@router.post("/portal/callers/{phone}/policy")
async def portal_set_policy(
    phone: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Set how the user's company wants the caller handled; audited."""
    page = _portal(request, session, user)
    return page if isinstance(page, Response) else await _set_policy(page, phone)


@router.post("/portal/callers/{phone}/policy/clear")
async def portal_clear_policy(
    phone: str, request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected
) -> Response:
    """Withdraw the user's company's policy for the caller; audited."""
    page = _portal(request, session, user)
    return page if isinstance(page, Response) else await _clear_policy(page, phone)
