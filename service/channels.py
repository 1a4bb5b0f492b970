"""The channels a memo is relayed by: one name each, shared by routing, dispatch and providers."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    voice = "voice"
