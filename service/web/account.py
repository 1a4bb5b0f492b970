"""The signed-in user's own settings, changed from a page: the language they read pages in."""

from __future__ import annotations

import contextlib
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Response, status
from fastapi.responses import RedirectResponse

from service.auth import service as auth
from service.http_deps import OptionalUser, SessionDep
from service.web.auth_pages import safe_next
from service.web.csrf import CsrfProtected

router = APIRouter(include_in_schema=False)


@router.post("/account/language")
def set_language(
    user: OptionalUser,
    session: SessionDep,
    _: CsrfProtected,
    locale: Annotated[str, Form(max_length=8)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Keep the language chosen in the page header ("": none of their own) and go back."""
    back = safe_next(next)
    if user is None:
        return RedirectResponse(f"/login?next={quote(back, safe='')}", status.HTTP_303_SEE_OTHER)
    # Only a hand-made form sends another value: nothing changes, the page comes back.
    with contextlib.suppress(auth.UserError):
        auth.set_user_locale(session=session, user=user, locale=locale or None)
    return RedirectResponse(back, status.HTTP_303_SEE_OTHER)
