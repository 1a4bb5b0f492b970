"""The operator console: one page, kept live by server-sent events and the JSON API."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response, status

from service.auth.models import Role
from service.companies.service import list_companies
from service.http_deps import OptionalUser, SessionDep
from service.web.auth_pages import login_redirect

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONSOLE_ROLES = (Role.operator, Role.admin)


@cache
def asset_version(name: str) -> str:
    """A short fingerprint of a static file, so a browser never runs a stale console script."""
    path = STATIC_DIR / name
    if not path.is_file():
        return "0"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of a file under /static, fingerprinted."""
    return f"/static/{name}?v={asset_version(name)}"


@router.get("/console")
def console(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The operator console: ringing calls, the memo form beside the script, the latest memos."""
    templates = request.app.state.templates
    if user is None:
        return login_redirect(request)
    if user.role not in CONSOLE_ROLES:
        forbidden: Response = templates.TemplateResponse(
            request,
            "console_forbidden.html",
            {"user": user},
            status_code=status.HTTP_403_FORBIDDEN,
        )
        return forbidden
    companies = [
        {"slug": company.slug, "name": company.name} for company in list_companies(session=session)
    ]
    context = {
        "user": user,
        "companies": companies,
        "can_take_memos": user.role == Role.operator,
        "static_url": static_url,
    }
    response: Response = templates.TemplateResponse(request, "console.html", context)
    return response
