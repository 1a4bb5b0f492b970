"""Requests signed the way Twilio signs its webhooks."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response
from twilio.request_validator import RequestValidator

AUTH_TOKEN = "twilio-test-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_BASE = "https://relay.example.jp"


def signature(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send for this URL and form."""
    return RequestValidator(token).compute_signature(url, form)


def post_signed(
    client: TestClient,
    path: str,
    form: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    base: str = PUBLIC_BASE,
) -> Response:
    """POST a form to `path`, signed for the public URL `base + path`."""
    signed = {"X-Twilio-Signature": signature(base + path, form), **(headers or {})}
    return client.post(path, data=form, headers=signed)
