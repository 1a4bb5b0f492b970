"""The SMTP email provider against a real SMTP server (aiosmtpd) in the test process."""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from service.channels import Channel
from service.clock import ManualClock
from service.providers.base import Found, Outcome
from service.providers.smtp import SmtpEmailProvider, build_email
from tests.factories import make_outgoing_message
from tests.providers.smtp_server import RecordingHandler, free_port
from tests.providers.smtp_server import smtp_server as running_smtp_server

MAIL_FROM = "Relay 秘書代行 <relay@relay.example.jp>"
HTML = "<p>山田様より<strong>苦情</strong>がありました。</p><p><a href='http://testserver/a/t1'>確認する</a></p>"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, RecordingHandler]]:
    handler = RecordingHandler()
    with running_smtp_server(handler) as controller:
        yield controller, handler


def make_provider(port: int, *, timeout: float = 5.0, **overrides: Any) -> SmtpEmailProvider:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "mail_from": MAIL_FROM,
        "timeout": timeout,
    }
    options.update(overrides)
    return SmtpEmailProvider(**options)


def make_email(**overrides: Any):  # type: ignore[no-untyped-def]
    fields: dict[str, Any] = {
        "channel": Channel.email,
        "to": "sato@example.jp",
        "subject": "【苦情】さくら歯科クリニック：予約時間の行き違い",
        "text": "山田様より苦情がありました。\n確認: http://testserver/a/t1",
        "html": HTML,
        "status_callback": None,
    }
    fields.update(overrides)
    return make_outgoing_message(**fields)


def received(handler: RecordingHandler) -> EmailMessage:
    assert len(handler.envelopes) == 1
    parsed = email.message_from_bytes(handler.envelopes[0].content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_an_accepted_email_is_sent_as_text_and_html_with_its_message_id(
    smtp_server: tuple[Controller, RecordingHandler], clock: ManualClock
) -> None:
    controller, handler = smtp_server
    message = make_email()

    result = await make_provider(controller.port).send(message)

    assert result.outcome == Outcome.sent
    envelope = handler.envelopes[0]
    assert envelope.mail_from == "relay@relay.example.jp"
    assert envelope.rcpt_tos == ["sato@example.jp"]
    mail = received(handler)
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and html is not None
    # On the wire every line ends in CRLF, inside the base64 parts too.
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == message.text
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == HTML
    assert result.provider_id == mail["Message-ID"]
    assert str(result.provider_id).endswith("@relay.example.jp>")
    assert mail["Date"] == "Mon, 05 Jan 2026 00:00:00 +0000"


async def test_japanese_subject_and_sender_name_survive_encoding(
    smtp_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = smtp_server
    subject = "【至急】お客様「山田 太郎」様より折り返しのご依頼（０９０）"

    await make_provider(controller.port).send(make_email(subject=subject))

    raw = handler.envelopes[0].content
    assert raw.isascii()  # encoded words and base64: any SMTP server takes it
    mail = received(handler)
    assert mail["Subject"] == subject
    assert mail["From"].addresses[0].display_name == "Relay 秘書代行"
    assert mail["Reply-To"] == MAIL_FROM
    assert mail["To"] == "sato@example.jp"


async def test_text_only_email_is_a_single_part(
    smtp_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = smtp_server

    result = await make_provider(controller.port).send(make_email(html=None))

    assert result.outcome == Outcome.sent
    mail = received(handler)
    assert mail.get_content_type() == "text/plain"
    assert "山田様" in mail.get_content()


async def test_extra_headers_are_added(smtp_server: tuple[Controller, RecordingHandler]) -> None:
    controller, handler = smtp_server
    headers = {"X-Relay-Delivery": "abc123", "Reply-To": "uketsuke@relay.example.jp"}

    await make_provider(controller.port).send(make_email(headers=headers))

    mail = received(handler)
    assert mail["X-Relay-Delivery"] == "abc123"
    assert mail.get_all("Reply-To") == ["uketsuke@relay.example.jp"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "件名\r\nBcc: victim@example.com"},
        {"subject": "件名\nX-Injected: 1"},
        {"to": "sato@example.jp\r\nBcc: victim@example.com"},
        {"headers": {"X-Memo": "ok\r\nBcc: victim@example.com"}},
        {"headers": {"Bad Name": "value"}},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"Content-Type": "text/html"}},
    ],
)
async def test_unsafe_headers_are_refused_for_good_and_nothing_is_sent(
    smtp_server: tuple[Controller, RecordingHandler], overrides: dict[str, Any]
) -> None:
    controller, handler = smtp_server

    result = await make_provider(controller.port).send(make_email(**overrides))

    assert result.outcome == Outcome.permanent
    assert result.error is not None
    assert "refused to build the email" in result.error
    assert handler.envelopes == []


def test_build_email_refuses_a_line_break_in_the_subject() -> None:
    with pytest.raises(ValueError, match="CR/LF"):
        build_email(message=make_email(subject="a\rb"), mail_from=MAIL_FROM)


async def test_a_recipient_that_is_not_an_address_is_permanent(
    smtp_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = smtp_server

    result = await make_provider(controller.port).send(make_email(to="佐藤さん"))

    assert result.outcome == Outcome.permanent
    assert handler.envelopes == []


@pytest.mark.parametrize(
    ("stage", "reply", "outcome"),
    [
        ("rcpt_reply", "451 4.7.1 Greylisted, try again later", Outcome.retryable),
        ("rcpt_reply", "550 5.1.1 No such user here", Outcome.permanent),
        ("data_reply", "452 4.3.1 Insufficient system storage", Outcome.retryable),
        ("data_reply", "554 5.7.1 Message rejected as spam", Outcome.permanent),
    ],
)
async def test_smtp_refusals_4xx_retryable_5xx_permanent(
    smtp_server: tuple[Controller, RecordingHandler], stage: str, reply: str, outcome: Outcome
) -> None:
    controller, handler = smtp_server
    setattr(handler, stage, reply)

    result = await make_provider(controller.port).send(make_email())

    assert result.outcome == outcome
    assert result.error_code == reply[:3]
    assert result.error is not None
    assert reply[4:] in result.error
    assert handler.envelopes == []


async def test_nothing_listening_is_retryable() -> None:
    result = await make_provider(free_port()).send(make_email())

    assert result.outcome == Outcome.retryable
    assert result.error is not None
    assert result.error.startswith("connect:")


async def test_a_timeout_before_data_is_retryable(
    smtp_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = smtp_server
    handler.rcpt_delay = 2.0

    result = await make_provider(controller.port, timeout=0.3).send(make_email())

    assert result.outcome == Outcome.retryable
    assert result.error is not None
    assert result.error.startswith("RCPT TO:")


async def test_a_timeout_after_data_is_unknown(
    smtp_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = smtp_server
    handler.data_delay = 2.0

    result = await make_provider(controller.port, timeout=0.3).send(make_email())

    assert result.outcome == Outcome.unknown
    assert result.error is not None
    assert result.error.startswith("DATA:")


async def test_starttls_asked_of_a_server_without_it_is_permanent(
    smtp_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = smtp_server

    result = await make_provider(controller.port, tls="starttls").send(make_email())

    assert result.outcome == Outcome.permanent
    assert result.error is not None
    assert "STARTTLS" in result.error
    assert handler.envelopes == []


async def test_lookup_cannot_tell(smtp_server: tuple[Controller, RecordingHandler]) -> None:
    controller, _ = smtp_server

    found = await make_provider(controller.port).lookup(make_email())

    assert found.state == Found.unclear


async def test_every_attempt_of_a_delivery_carries_the_same_message_id(
    smtp_server: tuple[Controller, RecordingHandler],
) -> None:
    controller, handler = smtp_server
    provider = make_provider(controller.port)
    message = make_email(delivery_id="e" * 32)

    first = await provider.send(message)
    again = await make_provider(controller.port).send(message)  # another process, later
    other = await provider.send(make_email(delivery_id="f" * 32))

    ids = [mail["Message-ID"] for mail in handler.messages()]
    assert ids == [f"<relay.{'e' * 32}@relay.example.jp>"] * 2 + [
        f"<relay.{'f' * 32}@relay.example.jp>"
    ]
    assert first.provider_id == again.provider_id == ids[0]
    assert other.provider_id == ids[2]


# --- TLS: a self-signed certificate made with the openssl command ----------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = certificate
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


async def test_starttls_upgrades_before_sending(certificate: tuple[Path, Path]) -> None:
    server_context, client_context = _contexts(certificate)
    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context,
        require_starttls=True,
    )
    controller.start()
    try:
        provider = make_provider(controller.port, tls="starttls", tls_context=client_context)
        result = await provider.send(make_email())
        plain = await make_provider(controller.port, tls="none").send(make_email())
    finally:
        controller.stop()

    assert result.outcome == Outcome.sent
    assert len(handler.envelopes) == 1
    assert plain.outcome == Outcome.permanent  # 530 Must issue a STARTTLS command first


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    server_context, client_context = _contexts(certificate)
    handler = RecordingHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), ssl_context=server_context
    )
    controller.start()
    try:
        provider = make_provider(controller.port, tls="tls", tls_context=client_context)
        result = await provider.send(make_email())
    finally:
        controller.stop()

    assert result.outcome == Outcome.sent
    assert received(handler)["Subject"] == make_email().subject


def test_an_unknown_tls_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="tls"):
        make_provider(25, tls="ssl")
