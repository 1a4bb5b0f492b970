"""Verification of Twilio's webhooks, before anything in them is read or written."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.errors import BadRequest, Forbidden, NotFound
from service.http_deps import SettingsDep
from service.i18n import N_
from service.providers.twilio.webhooks import field_not_a_sid, signature_is_valid


def public_url(request: Request, public_base_url: str) -> str:
    """The URL Twilio called: the configured public base, never the proxy's idea of the host."""
    query = request.url.query
    return public_base_url + request.url.path + (f"?{query}" if query else "")


async def verified_twilio_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """The webhook's form fields, once its X-Twilio-Signature proved it came from Twilio."""
    if not settings.twilio_enabled or settings.twilio_auth_token is None:
        raise NotFound(N_("Twilio is not configured here."), code="twilio_not_configured")
    form = await request.form()
    signature = request.headers.get("x-twilio-signature", "")
    if not signature_is_valid(
        auth_token=settings.twilio_auth_token.get_secret_value(),
        url=public_url(request, settings.public_base_url),
        form=form,
        signature=signature,
    ):
        raise Forbidden(N_("The Twilio signature is not valid."), code="bad_signature")
    fields = {key: str(value) for key, value in form.items()}
    # Ids become keys and columns of fixed size: anything but a SID is refused, not stored.
    bad = field_not_a_sid(fields)
    if bad is not None:
        raise BadRequest(N_("%(name)s is not a Twilio SID."), field=bad, code="bad_sid", name=bad)
    return fields


TwilioForm = Annotated[dict[str, str], Depends(verified_twilio_form)]
