"""Security headers on every response, and the Content-Security-Policy the pages satisfy.

Each request gets a fresh nonce (`request.state.csp_nonce`, `csp_nonce` in templates); the
pages' inline `<style>` and `<script>` blocks carry it, and nothing else inline runs or applies.
Scripts and stylesheets otherwise come from this site only.
"""

from __future__ import annotations

import re
import secrets

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NONCE_KEY = "csp_nonce"

# The dev outbox shows relayed email as its recipient would see it, in a sandboxed frame
# (no scripts) that inherits this page's policy: email HTML is styled inline.
_EMAIL_PREVIEW_SOURCES = {"style-src": "'unsafe-inline'"}
EMAIL_PREVIEW_PATHS = frozenset({"/dev/outbox"})
# The admin's company editor previews the company's email the same way.
_EMAIL_PREVIEW_PAGES = re.compile(r"/admin/companies/[^/]+")

HSTS_MAX_AGE = 365 * 24 * 3600


def content_security_policy(path: str, nonce: str) -> str:
    """The Content-Security-Policy of the page at `path`."""
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": f"'self' 'nonce-{nonce}'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "worker-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    extra: dict[str, str] = {}
    if path in EMAIL_PREVIEW_PATHS or _EMAIL_PREVIEW_PAGES.fullmatch(path):
        extra = _EMAIL_PREVIEW_SOURCES
    for name, sources in extra.items():
        if "'unsafe-inline'" in sources:
            # A nonce would make browsers ignore 'unsafe-inline'.
            directives[name] = directives[name].replace(f" 'nonce-{nonce}'", "")
        directives[name] += f" {sources}"
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


def csp_nonce(request: Request) -> str:
    """This request's CSP nonce, for an inline `<script>` or `<style>` it serves."""
    nonce: str = request.scope.get("state", {}).get(NONCE_KEY, "")
    return nonce


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response that does not set them itself.

    Plain ASGI (no buffering), outside everything else, so that refusals and errors carry
    them too.
    """

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.fixed_headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            # Acknowledgement links carry their token in the URL: never pass it on.
            (b"referrer-policy", b"no-referrer"),
        ]
        if https:
            self.fixed_headers.append(
                (b"strict-transport-security", f"max-age={HSTS_MAX_AGE}".encode("ascii"))
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[NONCE_KEY] = nonce
        policy = content_security_policy(scope["path"], nonce).encode("ascii")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in [(b"content-security-policy", policy), *self.fixed_headers]:
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
