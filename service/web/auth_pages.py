"""Sign-in, sign-out and the signed-in home page.

A right password signs in at once, or, for a user with two-factor sign-in (or staff who must
enrol first), leads to a second step (service/web/two_factor_pages.py) carried by a short-lived
signed `relay_pending` cookie; the browser session is only opened once that step is done.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session, col, select

from service.audit.service import Action, Actor
from service.audit.service import record as audit_record
from service.auth import service as auth
from service.auth.login import (
    NEXT_SIGNED_IN,
    PENDING_LIFETIME,
    LoginFailed,
    LoginThrottled,
    authenticate,
    pending_token,
    second_step,
)
from service.auth.models import Role, User
from service.companies.models import Company
from service.http_deps import (
    SESSION_COOKIE,
    OptionalUser,
    SessionDep,
    SettingsDep,
    client_address,
)
from service.i18n import N_, translate, translate_plural
from service.settings import Settings
from service.web.csrf import (
    CsrfProtected,
    clear_csrf_cookie,
    cookies_secure,
    issue_csrf_cookie,
    token_is_valid,
)
from service.web.memo_view import company_view
from service.web.templating import company_locale, page_locale

router = APIRouter(include_in_schema=False)

FAILED_MESSAGE = N_("Wrong email or password.")
EXPIRED_MESSAGE = N_("The form expired; please try again.")
THROTTLED_MESSAGE = N_("Too many failed sign-ins: please try again in %(wait)s.")
PENDING_COOKIE = "relay_pending"
SECOND_STEP_PATHS = {"code": "/login/code", "enrol": "/login/two-factor"}


def request_ip(request: Request) -> str | None:
    """The client's address: the socket peer, or behind RELAY_TRUSTED_PROXIES the forwarded one."""
    return client_address(request)


def audit_sign_in_failed(request: Request, session: Session, email: str, reason: str) -> None:
    """Put a refused sign-in on the audit trail, under the address that was tried."""
    audit_record(
        session=session,
        actor=Actor(name=auth.normalise_email(email)[:320], ip=request_ip(request)),
        action=Action.sign_in_failed,
        detail={"reason": reason},
    )


def throttled_answer(throttled: LoginThrottled, locale: str) -> tuple[str, dict[str, str]]:
    """The message and headers of a 429: how long to wait, in the reader's language."""
    seconds = max(1, math.ceil(throttled.retry_after.total_seconds()))
    message = translate(locale, THROTTLED_MESSAGE) % {"wait": _wait_text(seconds, locale)}
    return message, {"Retry-After": str(seconds)}


def safe_next(value: str | None) -> str:
    """`value` if it is a path on this site, else "/" (no open redirects)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def login_redirect(request: Request) -> RedirectResponse:
    """A redirect to the login page that comes back to this request's page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login" if target == "/" else f"/login?next={quote(target, safe='')}"
    return RedirectResponse(location, status.HTTP_303_SEE_OTHER)


def _login_page(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status_code: int = status.HTTP_200_OK,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"next": next_path, "email": email, "error": error}
    response = request.app.state.templates.TemplateResponse(
        request, "login.html", context, status_code=status_code, headers=headers
    )
    issue_csrf_cookie(request, response)
    result: Response = response
    return result


def _wait_text(seconds: int, locale: str) -> str:
    if seconds < 60:
        text = translate_plural(locale, "%(num)d second", "%(num)d seconds", seconds)
        return text % {"num": seconds}
    minutes = math.ceil(seconds / 60)
    text = translate_plural(locale, "%(num)d minute", "%(num)d minutes", minutes)
    return text % {"num": minutes}


def _set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=cookies_secure(settings),
    )


@router.get("/login")
def login_form(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    """The sign-in form (already signed in: straight on)."""
    next_path = safe_next(next)
    if user is not None:
        return RedirectResponse(next_path, status.HTTP_303_SEE_OTHER)
    return _login_page(request, next_path=next_path)


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the credentials; on success open a new session and go on to `next`."""
    next_path = safe_next(next)
    if not token_is_valid(request, csrf_token):
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            error=translate(page_locale(request), EXPIRED_MESSAGE),
            status_code=403,
        )
    try:
        user = authenticate(session=session, email=email, password=password, ip=request_ip(request))
    except LoginThrottled as throttled:
        audit_sign_in_failed(request, session, email, "throttled")
        message, headers = throttled_answer(throttled, page_locale(request))
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            error=message,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers=headers,
        )
    except LoginFailed:
        audit_sign_in_failed(request, session, email, "password")
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            error=translate(page_locale(request), FAILED_MESSAGE),
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    return continue_sign_in(request, session, settings, user, next_path)


def continue_sign_in(
    request: Request, session: Session, settings: Settings, user: User, next_path: str
) -> Response:
    """What follows a right password: the session, or first the two-factor step it needs.

    Any page that proves a password (the sign-in form, a password set from a link) goes on
    through here, so none of them skips a second factor.
    """
    step = second_step(session=session, user=user)
    if step != NEXT_SIGNED_IN:
        # Only now, with the password right, does the answer show that a code is needed.
        location = f"{SECOND_STEP_PATHS[step]}?next={quote(next_path, safe='')}"
        response = RedirectResponse(location, status.HTTP_303_SEE_OTHER)
        response.set_cookie(
            PENDING_COOKIE,
            pending_token(secret=settings.secret(), user=user, step=step),
            max_age=int(PENDING_LIFETIME.total_seconds()),
            path="/login",
            httponly=True,
            samesite="lax",
            secure=cookies_secure(settings),
        )
        return response
    return open_session(
        request, session, settings, user, RedirectResponse(next_path, status.HTTP_303_SEE_OTHER)
    )


def clear_pending_cookie(response: Response, settings: Settings) -> None:
    """Drop the note of a half-finished sign-in."""
    response.delete_cookie(
        PENDING_COOKIE,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=cookies_secure(settings),
    )


def open_session(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    response: Response,
    *,
    method: str = "password",
) -> Response:
    """Sign `user` in on `response`: a new browser session, and the act on the audit trail."""
    # A fresh token at every sign-in, and the old session (if any) closed: no session fixation.
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        auth.end_web_session(session=session, token=previous)
    token = auth.create_web_session(
        session=session, user=user, lifetime=timedelta(hours=settings.session_hours)
    )
    audit_record(
        session=session,
        actor=Actor(name=user.email, user_id=user.id, ip=request_ip(request)),
        action=Action.sign_in,
        detail={"method": method},
    )
    _set_session_cookie(response, token, settings)
    clear_csrf_cookie(request, response)
    if PENDING_COOKIE in request.cookies:
        clear_pending_cookie(response, settings)
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, settings: SettingsDep, _: CsrfProtected
) -> Response:
    """Close the browser session and go back to the login page."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        user = auth.user_for_session_token(session=session, token=token)
        if user is not None:
            audit_record(
                session=session,
                actor=Actor(name=user.email, user_id=user.id, ip=request_ip(request)),
                action=Action.sign_out,
            )
        auth.end_web_session(session=session, token=token)
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=cookies_secure(settings)
    )
    return response


def _home_context(request: Request, session: Session, user: User) -> dict[str, Any]:
    if user.role == Role.admin:
        companies = session.exec(select(Company).order_by(col(Company.name))).all()
        return {"companies": companies}
    if user.role == Role.client and user.company_id is not None:
        company = session.get(Company, user.company_id)
        if company is not None:
            # As in the portal: the user's own language, else the company's.
            company_locale(request, company_view(company).locale)
        return {"company": company}
    return {}


@router.get("/")
def home(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The signed-in home page for each role."""
    if user is None:
        return login_redirect(request)
    context = {"user": user, **_home_context(request, session, user)}
    response: Response = request.app.state.templates.TemplateResponse(request, "home.html", context)
    return response
