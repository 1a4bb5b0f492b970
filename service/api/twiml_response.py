"""The answer to a Twilio webhook: TwiML, an XML document Twilio acts on."""

from __future__ import annotations

from fastapi import Response


class TwiML(Response):
    """A TwiML document; as a route's response class it shows in /docs as application/xml."""

    media_type = "application/xml"
