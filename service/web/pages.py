"""What every page route shares: drawing a template, and turning away who may not see it."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response, status

from service.auth.models import Role, User
from service.providers import registry
from service.settings import Settings
from service.web.auth_pages import login_redirect
from service.web.console import static_url

ADMIN_ROLES = (Role.admin,)
STAFF_ROLES = (Role.admin, Role.operator)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """`template` drawn with `context` (plus what every page has)."""
    settings: Settings = request.app.state.settings
    full = {
        "static_url": static_url,
        # The admin's navigation shows the dev outbox only while some channel writes to it.
        "outbox_in_use": bool(registry.outbox_channels(settings=settings)),
        **context,
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, full, status_code=status_code
    )
    return response


def refusal_page(request: Request, user: User | None, roles: tuple[Role, ...]) -> Response | None:
    """The login page for someone signed out, a 403 page for a role not in `roles`, else None."""
    if user is None:
        return login_redirect(request)
    if user.role not in roles:
        return render(
            request,
            "forbidden.html",
            {"user": user},
            status_code=status.HTTP_403_FORBIDDEN,
        )
    return None
