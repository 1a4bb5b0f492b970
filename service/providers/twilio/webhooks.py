"""Twilio's webhooks: the signature that proves a request came from Twilio, and its ids."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

# Every Twilio id (CallSid, MessageSid, AccountSid, …): two letters, then 32 hex digits.
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def signature_is_valid(*, auth_token: str, url: str, form: Any, signature: str) -> bool:
    """Whether X-Twilio-Signature signs this URL and form with the account's auth token."""
    return bool(signature) and bool(RequestValidator(auth_token).validate(url, form, signature))


def field_not_a_sid(fields: Mapping[str, str]) -> str | None:
    """The first field named …Sid whose value is no Twilio id, if any."""
    for key, value in fields.items():
        if key.endswith("Sid") and value and not _SID.fullmatch(value):
            return key
    return None
