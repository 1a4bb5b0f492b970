"""/admin/users: the bureau's users as pages; invite, change, disable, reset, API tokens.

Plain forms that post and come back (no script needed); each act is the same one the JSON API
performs (service/web/user_acts.py), audited the same way.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service import clock
from service.auth import service as auth
from service.auth.models import Role, User
from service.companies.models import Company
from service.companies.service import list_companies
from service.errors import Invalid, RelayError
from service.http_deps import OptionalUser, SessionDep, reader_locale
from service.i18n import LOCALES, N_, format_moment, translate
from service.settings import Settings
from service.web.csrf import CsrfProtected
from service.web.pages import ADMIN_ROLES, refusal_page, render
from service.web.user_acts import (
    LinkDelivery,
    change,
    create_token,
    find_token,
    find_user,
    invite,
    revoke_token,
    send_reset,
    user_status,
)

router = APIRouter(include_in_schema=False)

# What a page says after an act that went back to it (?done=…).
DONE = {
    "invited": N_("The invitation was sent."),
    "saved": N_("The changes were saved."),
    "disabled": N_("The user is disabled: their sessions and API tokens ended."),
    "enabled": N_("The user may sign in again."),
    "revoked": N_("The API token was revoked."),
}
NOT_SENT = N_(
    "The email could not be sent. Copy this link and give it to the user yourself; "
    "it is shown only this once."
)
SENT_TO_OUTBOX = N_("The email went to the dev outbox.")
RESET_SENT = N_("A link to choose a new password was sent.")

Text = Annotated[str, Form(max_length=400)]


def _zone(request: Request) -> ZoneInfo:
    settings: Settings = request.app.state.settings
    return ZoneInfo(settings.timezone)


def _companies(session: Session) -> list[Company]:
    return list(list_companies(session=session))


def _moment(request: Request, moment: datetime | None) -> str:
    if moment is None:
        return ""
    return format_moment(moment, locale=reader_locale(request), zone=_zone(request))


def _user_row(user: User, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.display_name,
        "role": user.role.value,
        "company": names.get(user.company_id, "") if user.company_id else "",
        "status": user_status(user),
    }


def _list_page(
    request: Request,
    session: Session,
    admin: User,
    *,
    q: str = "",
    role: str = "",
    client: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    companies = _companies(session)
    by_slug = {company.slug: company for company in companies}
    names = {company.id: company.name for company in companies}
    chosen = by_slug.get(client)
    users = (
        []
        if client and chosen is None
        else auth.list_users(
            session=session,
            role=Role(role) if role in Role.__members__ else None,
            company_id=chosen.id if chosen is not None else None,
            search=q or None,
        )
    )
    return render(
        request,
        "admin_users.html",
        {
            "user": admin,
            "rows": [_user_row(user, names) for user in users],
            "filters": {"q": q, "role": role, "client": client},
            "companies": [(company.slug, company.name) for company in companies],
            "roles": [member.value for member in Role],
            "locales": LOCALES,
            "form": form or {"role": "operator"},
            "errors": errors or {},
            "alert": alert,
        },
        status_code=status_code,
    )


def _token_rows(request: Request, session: Session, user: User) -> list[dict[str, Any]]:
    now = clock.now()
    return [
        {
            "id": token.id,
            "name": token.name,
            "created": _moment(request, token.created_at),
            "last_used": _moment(request, token.last_used_at),
            "expires": _moment(request, token.expires_at),
            "expired": token.expires_at is not None and token.expires_at <= now,
        }
        for token in auth.list_api_tokens(session=session, user=user)
    ]


def _user_page(
    request: Request,
    session: Session,
    admin: User,
    user: User,
    *,
    notice: str | None = None,
    link: str | None = None,
    new_token: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    companies = _companies(session)
    slugs = {company.id: company.slug for company in companies}
    shown = form or {
        "name": user.display_name,
        "role": user.role.value,
        "client": slugs.get(user.company_id, "") if user.company_id else "",
        "locale": user.locale or "",
    }
    return render(
        request,
        "admin_user.html",
        {
            "user": admin,
            "subject": user,
            "subject_status": user_status(user),
            "created": _moment(request, user.created_at),
            "companies": [(company.slug, company.name) for company in companies],
            "roles": [member.value for member in Role],
            "locales": LOCALES,
            "form": shown,
            "errors": errors or {},
            "alert": alert,
            "notice": notice,
            "link": link,
            "new_token": new_token,
            "tokens": _token_rows(request, session, user),
            "is_self": admin.id == user.id,
        },
        status_code=status_code,
    )


def _field_errors(error: RelayError, locale: str) -> tuple[dict[str, str], str | None]:
    """A refusal as messages beside fields, or as one alert when it concerns no field."""
    problems = error.problems(locale)
    if not problems:
        return {}, error.text(locale)
    return {problem.field or "": problem.message for problem in problems}, None


def _delivery_notice(locale: str, delivery: LinkDelivery, sent: str) -> str:
    if not delivery.sent:
        return translate(locale, NOT_SENT)
    text = translate(locale, sent)
    if delivery.outbox:
        text = f"{text} {translate(locale, SENT_TO_OUTBOX)}"
    return text


def _back(user: User, done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/users/{user.id}?done={done}", status.HTTP_303_SEE_OTHER)


@router.get("/admin/users")
def users_page(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    q: Annotated[str, Query(max_length=200)] = "",
    role: Annotated[str, Query(max_length=16)] = "",
    client: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Every user, searchable, with the invitation form."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    return _list_page(request, session, user, q=q.strip(), role=role, client=client)


@router.post("/admin/users")
def invite_submit(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    email: Text = "",
    role: Text = "",
    client: Text = "",
    name: Text = "",
    locale: Text = "",
) -> Response:
    """Invite someone by email; the user's page says whether the email went."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    form = {"email": email, "role": role, "client": client, "name": name, "locale": locale}
    page_locale = reader_locale(request)
    try:
        _check_role(role)
        chosen_role = Role(role)
        invitation, delivery = invite(
            request=request,
            session=session,
            admin=user,
            email=email,
            role=chosen_role,
            client=(client or None) if chosen_role == Role.client else None,
            name=name or None,
            locale=locale or None,
        )
    except RelayError as error:
        session.rollback()
        errors, alert = _field_errors(error, page_locale)
        return _list_page(
            request,
            session,
            user,
            form=form,
            errors=errors,
            alert=alert,
            status_code=error.status,
        )
    if delivery.sent and not delivery.outbox:
        return _back(invitation.user, "invited")
    return _user_page(
        request,
        session,
        user,
        invitation.user,
        notice=_delivery_notice(page_locale, delivery, DONE["invited"]),
        link=delivery.url,
    )


def _check_role(role: str) -> None:
    """Refuse a role the form's choices do not hold (a form can be sent by hand)."""
    if role not in Role.__members__:
        raise Invalid(
            N_("Choose one of: %(expected)s."),
            field="role",
            code="not_a_choice",
            expected=", ".join(Role.__members__),
        )


def _subject(session: Session, user_id: str) -> User:
    return find_user(session, user_id)


@router.get("/admin/users/{user_id}")
def user_page(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    user_id: str,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """One user: their details, status, password link and API tokens."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    subject = _subject(session, user_id)
    notice = translate(reader_locale(request), DONE[done]) if done in DONE else None
    return _user_page(request, session, user, subject, notice=notice)


@router.post("/admin/users/{user_id}")
def user_submit(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    user_id: str,
    name: Text = "",
    role: Text = "",
    client: Text = "",
    locale: Text = "",
) -> Response:
    """Save a user's name, role, company and language."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    subject = _subject(session, user_id)
    form = {"name": name, "role": role, "client": client, "locale": locale}
    try:
        _check_role(role)
        chosen_role = Role(role)
        change(
            request=request,
            session=session,
            admin=user,
            user=subject,
            role=chosen_role,
            client=(client or None) if chosen_role == Role.client else None,
            client_given=chosen_role == Role.client,
            name=name,
            locale=locale or None,
            locale_given=True,
        )
    except RelayError as error:
        session.rollback()
        errors, alert = _field_errors(error, reader_locale(request))
        subject = _subject(session, user_id)
        return _user_page(
            request,
            session,
            user,
            subject,
            form=form,
            errors=errors,
            alert=alert,
            status_code=error.status,
        )
    return _back(subject, "saved")


def _status_act(
    request: Request, session: Session, user: OptionalUser, user_id: str, *, disabled: bool
) -> Response:
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    subject = _subject(session, user_id)
    try:
        change(request=request, session=session, admin=user, user=subject, disabled=disabled)
    except RelayError as error:
        session.rollback()
        subject = _subject(session, user_id)
        return _user_page(
            request,
            session,
            user,
            subject,
            alert=error.text(reader_locale(request)),
            status_code=error.status,
        )
    return _back(subject, "disabled" if disabled else "enabled")


@router.post("/admin/users/{user_id}/disable")
def disable_submit(
    request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected, user_id: str
) -> Response:
    """Disable a user: their sessions and API tokens end at once."""
    return _status_act(request, session, user, user_id, disabled=True)


@router.post("/admin/users/{user_id}/enable")
def enable_submit(
    request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected, user_id: str
) -> Response:
    """Let a disabled user sign in again."""
    return _status_act(request, session, user, user_id, disabled=False)


@router.post("/admin/users/{user_id}/reset")
def reset_submit(
    request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected, user_id: str
) -> Response:
    """Email the user a link to choose a new password (or their invitation again)."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    subject = _subject(session, user_id)
    locale = reader_locale(request)
    try:
        delivery = send_reset(request=request, session=session, admin=user, user=subject)
    except RelayError as error:
        session.rollback()
        subject = _subject(session, user_id)
        return _user_page(
            request, session, user, subject, alert=error.text(locale), status_code=error.status
        )
    return _user_page(
        request,
        session,
        user,
        subject,
        notice=_delivery_notice(locale, delivery, RESET_SENT),
        link=delivery.url,
    )


def _expiry(request: Request, text: str) -> datetime | None:
    # A day chosen in the form: the token works until the end of that day, in the bureau's time.
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Invalid(N_("This is not a date."), field="expires", code="not_a_time") from None
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=_zone(request))


@router.post("/admin/users/{user_id}/tokens")
def token_submit(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    user_id: str,
    name: Annotated[str, Form(max_length=100)] = "",
    expires: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Create an API token; the page shows it this once."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    subject = _subject(session, user_id)
    try:
        if not name.strip():
            raise Invalid(N_("This field is required."), field="token_name", code="missing")
        secret, _row = create_token(
            request=request,
            session=session,
            admin=user,
            user=subject,
            name=name,
            expires_at=_expiry(request, expires),
        )
    except RelayError as error:
        session.rollback()
        subject = _subject(session, user_id)
        errors, alert = _field_errors(error, reader_locale(request))
        errors = {
            {"name": "token_name", "expires_at": "expires"}.get(key, key): value
            for key, value in errors.items()
        }
        return _user_page(
            request,
            session,
            user,
            subject,
            errors=errors,
            alert=alert,
            status_code=error.status,
        )
    return _user_page(request, session, user, subject, new_token=secret)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_submit(
    request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected, token_id: str
) -> Response:
    """Revoke an API token and go back to its user's page."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    owner = revoke_token(
        request=request, session=session, admin=user, token=find_token(session, token_id)
    )
    return _back(owner, "revoked")
