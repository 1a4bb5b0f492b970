"""Acknowledgement links: signed tokens naming one memo and one contact.

Tokens are kept short because they ride in SMS, where every character counts:
base64url(memo id bytes + issued-at + contact key) "." base64url(truncated HMAC-SHA256).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service import clock

# A purpose of its own, so no other value Relay signs can pass for an ack token.
_PURPOSE = b"relay.ack-link.v1"
_MAC_BYTES = 12


@dataclass(frozen=True)
class AckClaim:
    memo_id: str
    contact_key: str
    issued_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def make_ack_token(*, secret: str, memo_id: str, contact_key: str) -> str:
    """A token that acknowledges `memo_id` on behalf of `contact_key`, and nothing else."""
    issued = int(clock.now().timestamp())
    payload = bytes.fromhex(memo_id) + struct.pack(">I", issued) + contact_key.encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read_ack_token(*, secrets: Sequence[str], token: str) -> AckClaim | None:
    """The claim a token signed with any of `secrets` carries; None when forged or malformed."""
    body, _, mac = token.partition(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    # Base64 leaves spare bits and padding: refuse any spelling but the one we issue.
    if _b64(payload) != body or _b64(given) != mac:
        return None
    if len(payload) < 21:
        return None
    # Links already sent stay good across a change of key while the old key is still listed.
    if not any(hmac.compare_digest(given, _mac(secret, payload)) for secret in secrets):
        return None
    try:
        contact_key = payload[20:].decode()
    except UnicodeDecodeError:
        return None
    (issued,) = struct.unpack(">I", payload[16:20])
    return AckClaim(
        memo_id=payload[:16].hex(),
        contact_key=contact_key,
        issued_at=datetime.fromtimestamp(issued, tz=UTC),
    )


def is_expired(claim: AckClaim, *, lifetime: timedelta) -> bool:
    """Whether a link is past its lifetime by the one clock."""
    return clock.now() - claim.issued_at > lifetime


def ack_link(*, public_base_url: str, token: str) -> str:
    """The URL a recipient opens to acknowledge."""
    return f"{public_base_url}/a/{token}"
