"""/admin/secrets: the credentials chat destinations name, set write-only; which are missing.

Plain forms that post and come back (no script needed); each act is the one the JSON API
performs (service/secrets/service.py), audited the same way. A value is never shown again,
not even in a refused form.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service.auth.models import User
from service.errors import Invalid, RelayError
from service.http_deps import OptionalUser, SessionDep, actor_of, reader_locale
from service.i18n import N_, format_moment, translate
from service.secrets import service as secrets
from service.settings import Settings
from service.web.csrf import CsrfProtected
from service.web.pages import ADMIN_ROLES, refusal_page, render

router = APIRouter(include_in_schema=False)

# A form's value is checked by the service, which says what is wrong beside the field; this
# only bounds what is read at all.
_FORM_VALUE_MAX = 4 * secrets.MAX_VALUE_LENGTH

# What the page says after an act that went back to it (?done=…).
DONE = {
    "set": N_("The secret was saved. It is used from the next message on."),
    "deleted": N_("The secret was deleted."),
}


def _uses(uses: list[secrets.SecretUse]) -> list[dict[str, str]]:
    return [
        {"company": use.company_name, "slug": use.company_slug, "destination": use.destination}
        for use in uses
    ]


def _page(
    request: Request,
    session: Session,
    admin: User,
    *,
    name: str = "",
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    notice: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    settings: Settings = request.app.state.settings
    zone = ZoneInfo(settings.timezone)
    locale = reader_locale(request)
    stored = secrets.list_secrets(session=session)
    uses = secrets.secret_uses(session=session)
    rows = [
        {
            "name": info.name,
            "set_at": format_moment(info.set_at, locale=locale, zone=zone),
            "set_by": info.set_by,
            "uses": _uses(uses.get(info.name, [])),
        }
        for info in stored
    ]
    known = {info.name for info in stored}
    missing = [
        {"name": missing_name, "uses": _uses(named_by)}
        for missing_name, named_by in uses.items()
        if missing_name not in known
    ]
    return render(
        request,
        "admin_secrets.html",
        {
            "user": admin,
            "rows": rows,
            "missing": missing,
            # Only ever the name: a value typed into the form is never sent back.
            "form": {"name": name},
            "errors": errors or {},
            "alert": alert,
            "notice": notice,
            "max_length": secrets.MAX_VALUE_LENGTH,
        },
        status_code=status_code,
    )


def _back(done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/secrets?done={done}", status.HTTP_303_SEE_OTHER)


@router.get("/admin/secrets")
def secrets_page(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    done: Annotated[str, Query(max_length=16)] = "",
    name: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The stored secrets, the ones destinations name that are missing, and the form to set one."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    notice = translate(reader_locale(request), DONE[done]) if done in DONE else None
    return _page(request, session, user, name=name.strip(), notice=notice)


@router.post("/admin/secrets")
def set_submit(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    name: Annotated[str, Form(max_length=200)] = "",
    value: Annotated[str, Form(max_length=_FORM_VALUE_MAX)] = "",
    value_lines: Annotated[str, Form(max_length=_FORM_VALUE_MAX)] = "",
) -> Response:
    """Set (or replace) a secret's value, then back to the list."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    settings: Settings = request.app.state.settings
    name = name.strip()
    try:
        if value.strip() and value_lines.strip():
            raise Invalid(N_("Give the value in one field only."), field="value", code="two_values")
        secrets.set_secret(
            session=session,
            name=name,
            value=value if value.strip() else value_lines,
            settings=settings,
            actor=actor_of(request, user),
        )
    except RelayError as error:
        session.rollback()
        locale = reader_locale(request)
        problems = error.problems(locale)
        return _page(
            request,
            session,
            user,
            name=name,
            errors={problem.field or "": problem.message for problem in problems},
            alert=None if problems else error.text(locale),
            status_code=error.status,
        )
    return _back("set")


@router.post("/admin/secrets/{name}/delete")
def delete_submit(
    request: Request, session: SessionDep, user: OptionalUser, _: CsrfProtected, name: str
) -> Response:
    """Delete a secret (the page asked first), then back to the list."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None
    secrets.delete_secret(session=session, name=name, actor=actor_of(request, user))
    return _back("deleted")
