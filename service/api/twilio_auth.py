"""Verification of Twilio's webhooks, before anything in them is read or written."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from twilio.request_validator import RequestValidator

from service.http_deps import SettingsDep

# Every Twilio id (CallSid, MessageSid, AccountSid, …): two letters, then 32 hex digits.
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def public_url(request: Request, public_base_url: str) -> str:
    """The URL Twilio called: the configured public base, never the proxy's idea of the host."""
    query = request.url.query
    return public_base_url + request.url.path + (f"?{query}" if query else "")


async def verified_twilio_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """The webhook's form fields, once its X-Twilio-Signature proved it came from Twilio."""
    if not settings.twilio_enabled or settings.twilio_auth_token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Twilio is not configured")
    form = await request.form()
    signature = request.headers.get("x-twilio-signature", "")
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    url = public_url(request, settings.public_base_url)
    if not signature or not validator.validate(url, form, signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid Twilio signature")
    fields = {key: str(value) for key, value in form.items()}
    # Ids become keys and columns of fixed size: anything but a SID is refused, not stored.
    for key, value in fields.items():
        if key.endswith("Sid") and value and not _SID.fullmatch(value):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{key} is not a Twilio SID")
    return fields


TwilioForm = Annotated[dict[str, str], Depends(verified_twilio_form)]
