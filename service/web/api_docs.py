"""The API's OpenAPI description and Swagger UI, its reader: for staff only.

Swagger UI's script, stylesheet and icon come from the fastapi-offline package and are
served here, so the page works without the internet and under the site's strict policy.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse

from service.auth.models import Role, User
from service.errors import Forbidden, NotFound
from service.http_deps import CurrentStaff, OptionalUser
from service.i18n import N_
from service.web.auth_pages import login_redirect
from service.web.security import csp_nonce

router = APIRouter(include_in_schema=False)

OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs/assets"
STAFF_ROLES = (Role.admin, Role.operator)
SWAGGER_UI_DIR = files("fastapi_offline") / "static"
# The package's files that the page loads; nothing else in its folder is served.
SWAGGER_UI_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


@router.get(OPENAPI_URL)
def openapi_schema(request: Request, _: CurrentStaff) -> JSONResponse:
    """The OpenAPI description of the JSON API."""
    return JSONResponse(request.app.openapi())


def _refused(request: Request, user: User | None) -> Response | None:
    """A page for someone who may not read the docs: the login page, or 403."""
    if user is None:
        return login_redirect(request)
    if user.role not in STAFF_ROLES:
        raise Forbidden(N_("Your role may not do this."))
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
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        swagger_ui_parameters={"persistAuthorization": False},
    )
    # Its one inline script, the one that starts it, runs under this request's nonce.
    html = (
        bytes(page.body)
        .decode("utf-8")
        .replace("<script>", f'<script nonce="{csp_nonce(request)}">')
    )
    return Response(html, media_type="text/html")


@router.get(f"{ASSETS_URL}/{{name}}")
def swagger_ui_asset(name: str, _: CurrentStaff) -> FileResponse:
    """One of Swagger UI's own files, as its package ships it."""
    media_type = SWAGGER_UI_ASSETS.get(name)
    if media_type is None:
        raise NotFound(N_("Not found."))
    return FileResponse(str(SWAGGER_UI_DIR / name), media_type=media_type)
