"""Two-factor sign-in in the browser: the code after the password, and enrolling.

Routes:
- `/login/code`: after a right password, a user with two-factor sign-in gives a code from
  their authenticator (or a recovery code); only then is the browser session opened.
- `/login/two-factor`: staff whom the bureau requires to use two-factor sign-in, and who have
  not enrolled, enrol here right after the password; they have no session until they do.
- `/account/two-factor`: a signed-in user turns two-factor sign-in on (secret, QR code, one
  code to confirm, recovery codes shown once) or off (with a current code).
- `/admin/two-factor`: an admin sees which staff have enrolled and requires it for staff.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service.audit.service import Action, Actor
from service.audit.service import record as audit_record
from service.auth import totp
from service.auth.login import (
    NEXT_CODE,
    NEXT_ENROL,
    LoginFailed,
    LoginThrottled,
    check_second_factor,
    pending_user,
)
from service.auth.models import Role, User
from service.http_deps import OptionalUser, SessionDep, SettingsDep
from service.i18n import N_, translate
from service.settings import Settings
from service.web.auth_pages import (
    EXPIRED_MESSAGE,
    PENDING_COOKIE,
    audit_sign_in_failed,
    login_redirect,
    open_session,
    request_ip,
    safe_next,
    throttled_answer,
)
from service.web.csrf import CsrfProtected, issue_csrf_cookie, token_is_valid
from service.web.pages import ADMIN_ROLES, refusal_page, render
from service.web.templating import page_locale

router = APIRouter(include_in_schema=False)

WRONG_CODE = N_("That code is not right. Check the time on your phone and try again.")
REQUIRED_NOTE = N_("Two-factor sign-in is required for staff: it cannot be turned off.")
ENROL_PATH = "/account/two-factor"


def _pending(request: Request, session: Session, settings: Settings, step: str) -> User | None:
    return pending_user(
        session=session,
        secrets=settings.verifying_secrets(),
        token=request.cookies.get(PENDING_COOKIE),
        step=step,
    )


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = status.HTTP_200_OK,
    headers: dict[str, str] | None = None,
) -> Response:
    response = render(request, template, context, status_code=status_code)
    if headers:
        response.headers.update(headers)
    issue_csrf_cookie(request, response)
    return response


def _enrol_context(session: Session, user: User, action: str, next_path: str) -> dict[str, Any]:
    record = totp.start_enrolment(session=session, user=user)
    uri = totp.provisioning_uri(user=user, secret=record.secret)
    grouped = " ".join(record.secret[i : i + 4] for i in range(0, len(record.secret), 4))
    return {
        "secret": grouped,
        "qr_svg": totp.qr_svg(uri),
        "action": action,
        "next": next_path,
        "required": totp.must_use(session=session, user=user),
    }


def _audit(request: Request, session: Session, user: User, action: Action) -> None:
    audit_record(
        session=session,
        actor=Actor(name=user.email, user_id=user.id, ip=request_ip(request)),
        action=action,
        target=f"user:{user.email}",
    )


# The code after the password.


@router.get("/login/code")
def code_form(
    request: Request, session: SessionDep, settings: SettingsDep, next: str | None = None
) -> Response:
    """Ask for the second factor of a sign-in whose password was right."""
    user = _pending(request, session, settings, NEXT_CODE)
    if user is None:
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    return _page(request, "login_code.html", {"next": safe_next(next)})


@router.post("/login/code")
def code_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the code; right, the browser session opens and the user goes on to `next`."""
    next_path = safe_next(next)
    user = _pending(request, session, settings, NEXT_CODE)
    if user is None:
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    locale = page_locale(request)
    if not token_is_valid(request, csrf_token):
        context = {"next": next_path, "error": translate(locale, EXPIRED_MESSAGE)}
        return _page(request, "login_code.html", context, status_code=403)
    try:
        method = check_second_factor(session=session, user=user, code=code, ip=request_ip(request))
    except LoginThrottled as throttled:
        audit_sign_in_failed(request, session, user.email, "throttled")
        message, headers = throttled_answer(throttled, locale)
        return _page(
            request,
            "login_code.html",
            {"next": next_path, "error": message},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers=headers,
        )
    except LoginFailed:
        audit_sign_in_failed(request, session, user.email, "code")
        context = {"next": next_path, "error": translate(locale, WRONG_CODE)}
        return _page(request, "login_code.html", context, status_code=401)
    response = RedirectResponse(next_path, status.HTTP_303_SEE_OTHER)
    return open_session(request, session, settings, user, response, method=method)


# Enrolling right after the password, when the bureau requires it.


@router.get("/login/two-factor")
def sign_in_enrol_form(
    request: Request, session: SessionDep, settings: SettingsDep, next: str | None = None
) -> Response:
    """The enrolment a staff member must finish before anything else."""
    user = _pending(request, session, settings, NEXT_ENROL)
    if user is None or totp.is_enabled(session=session, user=user):
        # Enrolled meanwhile (another tab): the password again, then the code.
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    context = _enrol_context(session, user, "/login/two-factor", safe_next(next))
    return _page(request, "two_factor_enrol.html", context)


@router.post("/login/two-factor")
def sign_in_enrol_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Confirm the first code: two-factor is on, the session opens, recovery codes show once."""
    next_path = safe_next(next)
    user = _pending(request, session, settings, NEXT_ENROL)
    if user is None or totp.is_enabled(session=session, user=user):
        # Enrolled meanwhile (another tab): the password again, then the code.
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    locale = page_locale(request)
    context = _enrol_context(session, user, "/login/two-factor", next_path)
    if not token_is_valid(request, csrf_token):
        context["error"] = translate(locale, EXPIRED_MESSAGE)
        return _page(request, "two_factor_enrol.html", context, status_code=403)
    try:
        codes = totp.confirm_enrolment(session=session, user=user, code=code)
    except totp.CodeRejected:
        context["error"] = translate(locale, WRONG_CODE)
        return _page(request, "two_factor_enrol.html", context, status_code=400)
    _audit(request, session, user, Action.two_factor_enrolled)
    page = render(request, "two_factor_codes.html", {"codes": codes, "next": next_path})
    return open_session(request, session, settings, user, page, method="enrolment")


# The user's own page.


@router.get(ENROL_PATH)
def account_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Two-factor sign-in on or off for the signed-in user."""
    if user is None:
        return login_redirect(request)
    if totp.is_enabled(session=session, user=user):
        return _status_page(request, session, user)
    context = {"user": user, **_enrol_context(session, user, ENROL_PATH, "/")}
    return render(request, "two_factor_enrol.html", context)


def _status_page(
    request: Request,
    session: Session,
    user: User,
    *,
    error: str | None = None,
    status_code: int = status.HTTP_200_OK,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {
        "user": user,
        "codes_left": totp.recovery_codes_left(session=session, user=user),
        "required": totp.must_use(session=session, user=user),
        "error": error,
    }
    response = render(request, "two_factor.html", context, status_code=status_code)
    if headers:
        response.headers.update(headers)
    return response


@router.post(ENROL_PATH)
def account_enrol(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    code: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Confirm the first code of the pending secret; the recovery codes are shown once."""
    if user is None:
        return login_redirect(request)
    if totp.is_enabled(session=session, user=user):
        return RedirectResponse(ENROL_PATH, status.HTTP_303_SEE_OTHER)
    try:
        codes = totp.confirm_enrolment(session=session, user=user, code=code)
    except totp.CodeRejected:
        context = {
            "user": user,
            **_enrol_context(session, user, ENROL_PATH, "/"),
            "error": translate(page_locale(request), WRONG_CODE),
        }
        return render(request, "two_factor_enrol.html", context, status_code=400)
    _audit(request, session, user, Action.two_factor_enrolled)
    return render(request, "two_factor_codes.html", {"user": user, "codes": codes, "next": "/"})


@router.post(f"{ENROL_PATH}/disable")
def account_disable(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    code: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Turn two-factor sign-in off, given a current code; staff cannot while it is required."""
    if user is None:
        return login_redirect(request)
    if not totp.is_enabled(session=session, user=user):
        return RedirectResponse(ENROL_PATH, status.HTTP_303_SEE_OTHER)
    locale = page_locale(request)
    if totp.must_use(session=session, user=user):
        return _status_page(
            request,
            session,
            user,
            error=translate(locale, REQUIRED_NOTE),
            status_code=status.HTTP_409_CONFLICT,
        )
    try:
        check_second_factor(session=session, user=user, code=code, ip=request_ip(request))
    except LoginThrottled as throttled:
        message, headers = throttled_answer(throttled, locale)
        return _status_page(
            request,
            session,
            user,
            error=message,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers=headers,
        )
    except LoginFailed:
        return _status_page(
            request, session, user, error=translate(locale, WRONG_CODE), status_code=400
        )
    totp.remove(session=session, user=user)
    _audit(request, session, user, Action.two_factor_removed)
    return RedirectResponse(ENROL_PATH, status.HTTP_303_SEE_OTHER)


# The bureau's switch, for admins.


@router.get("/admin/two-factor")
def admin_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Which staff sign in with a code, and the switch that requires it of all of them."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    context = {
        "user": user,
        "required": totp.required_for_staff(session=session),
        "staff": totp.staff_enrolment(session=session),
    }
    return render(request, "admin_two_factor.html", context)


@router.post("/admin/two-factor")
def admin_set(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    _: CsrfProtected,
    required_for_staff: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Require (a ticked box) or stop requiring two-factor sign-in for staff."""
    refused = refusal_page(request, user, ADMIN_ROLES)
    if refused is not None:
        return refused
    assert user is not None and user.role == Role.admin
    required = required_for_staff == "on"
    if totp.set_required_for_staff(session=session, required=required, by=user):
        audit_record(
            session=session,
            actor=Actor(name=user.email, user_id=user.id, ip=request_ip(request)),
            action=Action.two_factor_policy_changed,
            target="settings:two-factor",
            detail={"required_for_staff": "true" if required else "false"},
        )
    return RedirectResponse("/admin/two-factor", status.HTTP_303_SEE_OTHER)
