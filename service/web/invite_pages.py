"""The pages behind a one-time password link: /invite/{token} and /reset/{token}.

Whoever holds the link may choose the user's password once; then they are signed in as that
user. An unknown link is a 404 page, an expired or used one a 410 page saying what to do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status

from service.audit import service as audit
from service.auth import service as auth
from service.auth.invitations import FoundLink, LinkState, find_link, use_link
from service.auth.models import LinkPurpose
from service.errors import Invalid
from service.http_deps import SessionDep, SettingsDep, actor_of
from service.i18n import N_, translate
from service.web.auth_pages import continue_sign_in
from service.web.csrf import issue_csrf_cookie, token_is_valid
from service.web.templating import page_locale, use_locale

router = APIRouter(include_in_schema=False)

EXPIRED_FORM = N_("The form expired; please try again.")
MISMATCH = N_("The two passwords are not the same.")
FORM_FIELD_MAX = 4096


def _page(
    request: Request,
    *,
    purpose: LinkPurpose,
    found: FoundLink | None,
    token: str = "",
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    if found is not None and found.user.locale:
        use_locale(request, found.user.locale)
    state = found.state.value if found is not None else "unknown"
    context: dict[str, Any] = {
        "purpose": purpose.value,
        "state": state,
        "email": found.user.email if found is not None else "",
        "token": token,
        "errors": errors or {},
        "alert": alert,
        "min_length": auth.MIN_PASSWORD_LENGTH,
    }
    if state != LinkState.usable.value and status_code == status.HTTP_200_OK:
        status_code = status.HTTP_404_NOT_FOUND if found is None else status.HTTP_410_GONE
    response: Response = request.app.state.templates.TemplateResponse(
        request, "invite.html", context, status_code=status_code
    )
    if state == LinkState.usable.value:
        issue_csrf_cookie(request, response)
    return response


def _found(session: SessionDep, token: str, purpose: LinkPurpose) -> FoundLink | None:
    found = find_link(session=session, token=token)
    # A link opens only its own page: an invitation is no reset, nor the other way round.
    if found is None or found.link.purpose != purpose:
        return None
    return found


def _show(request: Request, session: SessionDep, token: str, purpose: LinkPurpose) -> Response:
    return _page(request, purpose=purpose, found=_found(session, token, purpose), token=token)


def _submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: str,
    purpose: LinkPurpose,
    password: str,
    password_again: str,
    csrf_token: str,
) -> Response:
    found = _found(session, token, purpose)
    if found is None or found.state != LinkState.usable:
        return _page(request, purpose=purpose, found=found, token=token)
    if found.user.locale:
        use_locale(request, found.user.locale)
    locale = page_locale(request)
    if not token_is_valid(request, csrf_token):
        return _page(
            request,
            purpose=purpose,
            found=found,
            token=token,
            alert=translate(locale, EXPIRED_FORM),
            status_code=status.HTTP_403_FORBIDDEN,
        )
    errors: dict[str, str] = {}
    try:
        if password != password_again and auth.password_problem(password) is None:
            errors["password_again"] = translate(locale, MISMATCH)
        else:
            use_link(session=session, found=found, password=password)
    except Invalid as refusal:
        errors["password"] = refusal.text(locale)
    if errors:
        return _page(
            request,
            purpose=purpose,
            found=found,
            token=token,
            errors=errors,
            status_code=422,
        )
    user = found.user
    audit.record(
        session=session,
        actor=actor_of(request, user),
        action=audit.Action.password_set,
        target=f"user:{user.email}",
        company_id=user.company_id,
        detail={"via": purpose.value},
    )
    # On as from the sign-in form: a user with two-factor sign-in (or who must enrol) gives
    # a code first, so a link read from someone's mailbox is not enough to get in.
    return continue_sign_in(request, session, settings, user, "/")


PasswordField = Annotated[str, Form(max_length=FORM_FIELD_MAX)]
CsrfField = Annotated[str, Form(max_length=200)]


@router.get("/invite/{token}")
def invite_page(request: Request, session: SessionDep, token: str) -> Response:
    """The invitation: choose a first password."""
    return _show(request, session, token, LinkPurpose.invite)


@router.post("/invite/{token}")
def invite_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: str,
    password: PasswordField = "",
    password_again: PasswordField = "",
    csrf_token: CsrfField = "",
) -> Response:
    """Set the first password and sign in."""
    return _submit(
        request, session, settings, token, LinkPurpose.invite, password, password_again, csrf_token
    )


@router.get("/reset/{token}")
def reset_page(request: Request, session: SessionDep, token: str) -> Response:
    """The password reset: choose a new password."""
    return _show(request, session, token, LinkPurpose.reset)


@router.post("/reset/{token}")
def reset_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: str,
    password: PasswordField = "",
    password_again: PasswordField = "",
    csrf_token: CsrfField = "",
) -> Response:
    """Set the new password and sign in."""
    return _submit(
        request, session, settings, token, LinkPurpose.reset, password, password_again, csrf_token
    )
