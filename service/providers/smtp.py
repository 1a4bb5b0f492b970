"""Email through any SMTP server (aiosmtplib)."""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime, make_msgid, parseaddr

import aiosmtplib

from service import clock
from service.channels import Channel
from service.providers.base import LookupResult, Outcome, OutgoingMessage, SendResult
from service.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
# Headers the provider writes itself; message.headers may not replace them.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "sender"}
)
# 7-bit transfer encodings (base64 or quoted-printable for Japanese): no 8BITMIME needed.
MESSAGE_POLICY = default.clone(cte_type="7bit")
WIRE_POLICY = SMTP.clone(cte_type="7bit")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ":" (RFC 5322 ftext)


class HeaderError(ValueError):
    """A header that must not go out (CR/LF, a bad name, a reserved header)."""


def _check_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise HeaderError(f"header {name} contains a line break (CR/LF)")


def build_email(
    *, message: OutgoingMessage, mail_from: str, message_id: str | None = None
) -> EmailMessage:
    """The MIME message for `message`: text, plus an HTML alternative when there is one."""
    _check_value("From", mail_from)
    _check_value("To", message.to)
    _check_value("Subject", message.subject)
    email = EmailMessage(policy=MESSAGE_POLICY)
    email["From"] = mail_from
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(clock.now())
    email["Message-ID"] = message_id or make_msgid(domain=_domain(mail_from))
    email["Reply-To"] = mail_from
    for name, value in message.headers.items():
        if not _HEADER_NAME.match(name):
            raise HeaderError(f"invalid header name {name!r}")
        if name.lower() in RESERVED_HEADERS or name.lower().startswith("content-"):
            raise HeaderError(f"header {name} is set by the email provider")
        _check_value(name, value)
        del email[name]
        email[name] = value
    email.set_content(message.text)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    return email


def message_id_of(*, delivery_id: str, mail_from: str) -> str:
    """The Message-ID of one delivery, the same on every attempt.

    A message sent again after an unknown outcome then carries the Message-ID of the copy
    the mail system may already hold, which lets it drop the second.
    """
    return f"<relay.{delivery_id}@{_domain(mail_from)}>"


def _address(value: str) -> str:
    return parseaddr(value)[1]


def _domain(mail_from: str) -> str:
    _, _, domain = _address(mail_from).rpartition("@")
    return domain or "localhost"


def _response_outcome(error: aiosmtplib.SMTPResponseException, *, stage: str) -> SendResult:
    text = f"{stage}: {error.code} {error.message}".strip()
    if 400 <= error.code < 500:
        return SendResult(Outcome.retryable, error=text, error_code=str(error.code))
    if 500 <= error.code < 600:
        return SendResult(Outcome.permanent, error=text, error_code=str(error.code))
    return SendResult(Outcome.unknown, error=text, error_code=str(error.code))


def _failure_outcome(error: aiosmtplib.SMTPException | OSError, *, stage: str) -> SendResult:
    detail = f"{stage}: {type(error).__name__}: {error}"
    if stage == "DATA":
        # The server may have taken the message before the connection dropped or timed out.
        return SendResult(Outcome.unknown, error=detail)
    if isinstance(error, OSError):
        # Refused, unreachable, timed out or disconnected before DATA: nothing was handed over.
        return SendResult(Outcome.retryable, error=detail)
    # The server cannot do what the settings ask (no STARTTLS, no AUTH): no retry will help.
    return SendResult(Outcome.permanent, error=detail)


class SmtpEmailProvider:
    """Sends each email over a fresh SMTP connection: connect, MAIL, RCPT, DATA."""

    channel = Channel.email

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        tls: str = "starttls",
        mail_from: str = "relay@localhost",
        timeout: float = DEFAULT_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in ("none", "starttls", "tls"):
            raise ValueError("tls must be none, starttls or tls")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tls = tls
        self.mail_from = mail_from
        self.timeout = timeout
        # None: the system's trusted certificates; a context for a private CA.
        self.tls_context = tls_context

    @classmethod
    def from_settings(cls, *, settings: Settings) -> SmtpEmailProvider:
        """The provider of the configured SMTP server."""
        if not settings.smtp_host:
            raise ValueError("SMTP is not configured (RELAY_SMTP_HOST)")
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            tls=settings.smtp_tls,
            mail_from=settings.mail_from,
        )

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password if self.username else None,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
            local_hostname=_domain(self.mail_from),
            tls_context=self.tls_context,
        )

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Hand `message` to the SMTP server once; never raises for SMTP or network errors."""
        message_id = message_id_of(delivery_id=message.delivery_id, mail_from=self.mail_from)
        try:
            email = build_email(message=message, mail_from=self.mail_from, message_id=message_id)
        except (HeaderError, ValueError) as error:
            return SendResult(Outcome.permanent, error=f"refused to build the email: {error}")
        sender, recipient = _address(self.mail_from), _address(message.to)
        if not recipient or not recipient.isascii() or "@" not in recipient:
            return SendResult(Outcome.permanent, error=f"not an email address: {message.to!r}")
        if not sender.isascii():
            return SendResult(Outcome.permanent, error=f"not an ASCII sender: {sender!r}")
        data = email.as_bytes(policy=WIRE_POLICY)
        result = await self._transfer(sender, recipient, data, message_id)
        log.info(
            "smtp delivery=%s outcome=%s code=%s",
            message.delivery_id,
            result.outcome,
            result.error_code,
        )
        return result

    async def _transfer(
        self, sender: str, recipient: str, data: bytes, message_id: str
    ) -> SendResult:
        try:
            smtp = self._client()
        except ValueError as error:
            return SendResult(Outcome.permanent, error=f"SMTP settings: {error}")
        stage = "connect"
        try:
            await smtp.connect()
            stage = "MAIL FROM"
            await smtp.mail(sender)
            stage = "RCPT TO"
            await smtp.rcpt(recipient)
            stage = "DATA"
            await smtp.data(data)
        except aiosmtplib.SMTPResponseException as error:
            result = _response_outcome(error, stage=stage)
        except (aiosmtplib.SMTPException, OSError) as error:
            result = _failure_outcome(error, stage=stage)
        else:
            result = SendResult.sent(message_id)
            # The message was accepted; a failed goodbye changes nothing.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
        smtp.close()
        return result

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """SMTP cannot say what became of a message: it is sent again, with its Message-ID."""
        return LookupResult.unclear("an SMTP server cannot say what became of a message")

    async def aclose(self) -> None:
        """Nothing to close: every send uses its own connection."""
