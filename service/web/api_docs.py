"""The API's OpenAPI description and its two readers, Swagger UI and ReDoc: for staff only."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse

from service.api.deps import CurrentStaff, OptionalUser
from service.auth.models import Role, User
from service.web.auth_pages import login_redirect
from service.web.security import csp_nonce

router = APIRouter(include_in_schema=False)

OPENAPI_URL = "/openapi.json"
STAFF_ROLES = (Role.admin, Role.operator)


@router.get(OPENAPI_URL)
def openapi_schema(request: Request, _: CurrentStaff) -> JSONResponse:
    """The OpenAPI description of the JSON API."""
    return JSONResponse(request.app.openapi())


def _refused(request: Request, user: User | None) -> Response | None:
    """A page for someone who may not read the docs: the login page, or 403."""
    if user is None:
        return login_redirect(request)
    if user.role not in STAFF_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
    return None


@router.get("/docs")
def swagger_ui(request: Request, user: OptionalUser) -> Response:
    """Swagger UI, for trying the API out."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    page = get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{request.app.title} - Swagger UI",
        swagger_ui_parameters={"persistAuthorization": False},
    )
    # Its one inline script, the one that starts it, runs under this request's nonce.
    html = (
        bytes(page.body)
        .decode("utf-8")
        .replace("<script>", f'<script nonce="{csp_nonce(request)}">')
    )
    return Response(html, media_type="text/html")


@router.get("/redoc")
def redoc(request: Request, user: OptionalUser) -> Response:
    """ReDoc, for reading the API."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} - ReDoc")
