"""Protection against cross-site request forgery for every form Relay serves.

A CSRF token is an HMAC (keyed with the settings' secret) of the browser session's cookie, so
it is valid exactly as long as that session, and a new one comes with every sign-in. Before
sign-in (the login form) it is bound instead to a random `relay_csrf` cookie. A token signed
with a key listed in RELAY_PREVIOUS_SECRET_KEYS is still accepted, so a change of key does not
refuse the forms already open in browsers.

How a page uses it
------------------
In the template, inside every `<form method="post">` (`csrf_token` is a Jinja global)::

    <input type="hidden" name="csrf_token" value="{{ csrf_token(request) }}">

For `fetch()` calls, read the token from the `<meta name="csrf-token">` tag that base.html
writes for signed-in users and send it as the `X-CSRF-Token` header.

On the route that handles the POST (or PUT, PATCH, DELETE), add the dependency::

    from service.web.csrf import CsrfProtected

    @router.post("/memos/{memo_id}/ack")
    def ack(memo_id: str, user: CurrentUser, session: SessionDep, _: CsrfProtected) -> Response:
        ...

What `CsrfProtected` lets through:

- safe methods (GET, HEAD, OPTIONS);
- requests with an `Authorization: Bearer` header (API clients; a browser never adds one
  to a cross-site request by itself);
- requests without the session cookie: they authenticate nobody, so the route's own
  `CurrentUser` (or equivalent) answers them;
- requests with the session cookie whose `csrf_token` form field or `X-CSRF-Token` header
  holds the token bound to that cookie.

Anything else gets 403 `{"detail": "CSRF token missing or invalid"}` before the route runs.

A form shown to someone not signed in must also set the pre-session cookie: render it, then
call `issue_csrf_cookie(request, response)`; check the POST with
`token_is_valid(request, token)`, which, unlike `CsrfProtected`, refuses a request with no
cookie at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response

from service.errors import Forbidden
from service.http_deps import SESSION_COOKIE
from service.i18n import N_
from service.settings import Settings

CSRF_COOKIE = "relay_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def cookies_secure(settings: Settings) -> bool:
    """Whether cookies carry `Secure`: when Relay is reached over https."""
    return settings.public_base_url.startswith("https://")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _sign(secret: str, kind: str, value: str) -> str:
    message = f"relay-csrf:{kind}:{value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _binding(request: Request) -> tuple[str, str] | None:
    session_cookie = request.cookies.get(SESSION_COOKIE)
    if session_cookie:
        return "session", session_cookie
    pre_session = request.cookies.get(CSRF_COOKIE)
    if pre_session:
        return "pre", pre_session
    return None


def csrf_token(request: Request) -> str:
    """The CSRF token a form on this page must send back."""
    binding = _binding(request)
    if binding is None:
        # No cookie to bind to yet: make one; issue_csrf_cookie() hands it to the browser.
        fresh: str | None = getattr(request.state, "relay_new_csrf", None)
        if fresh is None:
            fresh = secrets.token_urlsafe(32)
            request.state.relay_new_csrf = fresh
        binding = ("pre", fresh)
    return _sign(_settings(request).secret(), *binding)


def issue_csrf_cookie(request: Request, response: Response) -> None:
    """Set the pre-session cookie if rendering this page had to create one."""
    fresh: str | None = getattr(request.state, "relay_new_csrf", None)
    if fresh is not None:
        response.set_cookie(
            CSRF_COOKIE,
            fresh,
            httponly=True,
            samesite="lax",
            secure=cookies_secure(_settings(request)),
        )


def clear_csrf_cookie(request: Request, response: Response) -> None:
    """Drop the pre-session cookie (once a session exists, tokens bind to it instead)."""
    if CSRF_COOKIE in request.cookies:
        response.delete_cookie(
            CSRF_COOKIE, httponly=True, samesite="lax", secure=cookies_secure(_settings(request))
        )


def token_is_valid(request: Request, token: str | None) -> bool:
    """Whether `token` is the one bound to this request's session or pre-session cookie."""
    binding = _binding(request)
    if binding is None or not token:
        return False
    return any(
        hmac.compare_digest(token.encode(), _sign(secret, *binding).encode())
        for secret in _settings(request).verifying_secrets()
    )


def _has_bearer(request: Request) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())


async def _submitted_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(_FORM_TYPES):
        # Starlette caches the parsed form, so the route can still read its own fields.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def verify_csrf(request: Request) -> None:
    """Refuse (403) a state-changing request that rides on the session cookie without its token."""
    if request.method in _SAFE_METHODS or _has_bearer(request):
        return
    if not request.cookies.get(SESSION_COOKIE):
        return
    if not token_is_valid(request, await _submitted_token(request)):
        raise Forbidden(
            N_("The form's security token is missing or old; reload the page."), code="csrf"
        )


CsrfProtected = Annotated[None, Depends(verify_csrf)]
