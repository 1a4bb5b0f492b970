"""A real SMTP server (aiosmtpd) in the test process, for the email provider and the dispatcher."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class RecordingHandler:
    """Accepts mail and keeps it; optional canned refusals or delays per SMTP stage.

    `data_delay`: the answer to DATA comes this late, and the message is kept only then
    (a server that took it, after the client gave up). `hold_data`: the next this many
    messages are kept at once and their answer never comes (a client killed mid-send).
    """

    rcpt_reply: str | None = None
    data_reply: str | None = None
    rcpt_delay: float = 0.0
    data_delay: float = 0.0
    hold_data: int = 0
    envelopes: list[Any] = field(default_factory=list)
    held: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        await asyncio.sleep(self.rcpt_delay)
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold_data > 0:
            self.hold_data -= 1
            self.envelopes.append(envelope)
            self.held += 1
            await asyncio.Event().wait()  # never answered; ends when the server stops
        await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        """Every message kept so far, parsed."""
        parsed = []
        for envelope in list(self.envelopes):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(handler: RecordingHandler | None = None) -> Iterator[Controller]:
    """An SMTP server on a free local port for as long as the block runs."""
    controller = Controller(handler or RecordingHandler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
