"""The supervisor's board: one page, drawn from GET /api/v1/board and kept live by events."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from service.auth.models import Role
from service.escalation.board import board
from service.http_deps import OptionalUser, SessionDep
from service.web.auth_pages import login_redirect
from service.web.console import static_url

router = APIRouter(include_in_schema=False)


@router.get("/board")
def board_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Memos waiting for acknowledgement, failed deliveries, escalations and overdue callbacks."""
    if user is None:
        return login_redirect(request)
    templates = request.app.state.templates
    if user.role != Role.admin:
        forbidden: Response = templates.TemplateResponse(
            request,
            "board.html",
            {"user": user, "forbidden": True},
            status_code=status.HTTP_403_FORBIDDEN,
        )
        return forbidden
    context = {
        "user": user,
        "forbidden": False,
        # The first paint needs no round trip; the script refetches on every change.
        "initial": board(session=session).model_dump(),
        "static_url": static_url,
    }
    response: Response = templates.TemplateResponse(request, "board.html", context)
    return response
