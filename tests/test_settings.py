"""Configuration: the defaults of CONTRACT §2, and one clear line for a bad value."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.settings import ConfigError, Settings, get_settings, load_settings

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_defaults_match_the_contract() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///var/relay.db"
    assert settings.secret_key is None
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.twilio_account_sid is None
    assert settings.twilio_auth_token is None
    assert settings.twilio_sms_from is None
    assert settings.twilio_messaging_service_sid is None
    assert settings.twilio_api_base == "https://api.twilio.com"
    assert settings.smtp_host is None
    assert settings.smtp_port == 587
    assert settings.smtp_username is None
    assert settings.smtp_password is None
    assert settings.smtp_tls == "starttls"
    assert settings.mail_from == "relay@localhost"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert not settings.production
    assert not settings.twilio_enabled
    assert not settings.smtp_enabled
    assert settings.is_sqlite
    assert settings.metrics_token is None


def test_a_metrics_token_is_read_and_must_be_long_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_METRICS_TOKEN", "too-short")
    with pytest.raises(ConfigError, match="RELAY_METRICS_TOKEN must be at least 16 characters"):
        load_settings()

    monkeypatch.setenv("RELAY_METRICS_TOKEN", "prometheus-scraper-7c1d9e0a")
    token = load_settings().metrics_token
    assert token is not None
    assert token.get_secret_value() == "prometheus-scraper-7c1d9e0a"
    assert "prometheus-scraper" not in repr(load_settings())


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().trusted_proxies == []
    monkeypatch.setenv("RELAY_TRUSTED_PROXIES", '["127.0.0.1", " 10.0.0.0/8", "::1"]')

    assert load_settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]
    monkeypatch.setenv("RELAY_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    assert load_settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]


def test_variables_and_dotenv_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("RELAY_PORT=9001\nRELAY_MAIL_FROM=受付 <desk@example.jp>\n")
    monkeypatch.setenv("RELAY_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("RELAY_TWILIO_OPERATOR_TARGETS", '["client:tanaka", "+815011112222"]')
    settings = load_settings()
    assert settings.port == 9001
    assert settings.mail_from == "受付 <desk@example.jp>"
    assert settings.host == "0.0.0.0"  # noqa: S104
    assert settings.twilio_operator_targets == ["client:tanaka", "+815011112222"]


def test_a_plain_postgresql_url_uses_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_DATABASE_URL", "postgresql://relay@db.internal/relay")
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://relay@db.internal/relay"
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RELAY_PORT", "abc"),
        ("RELAY_PORT", "70000"),
        ("RELAY_DATABASE_URL", "mysql://x"),
        ("RELAY_SMTP_TLS", "maybe"),
        ("RELAY_SMTP_PORT", "-1"),
        ("RELAY_PUBLIC_BASE_URL", "relay.example.jp"),
        ("RELAY_TWILIO_API_BASE", "ftp://api.twilio.com"),
        ("RELAY_TWILIO_RING_TIMEOUT", "1"),
        ("RELAY_SESSION_HOURS", "0"),
        ("RELAY_ACK_LINK_DAYS", "lots"),
        ("RELAY_SECRET_KEY", "short"),
        ("RELAY_TRUSTED_PROXIES", '["proxy.internal"]'),
        ("RELAY_TRUSTED_PROXIES", '["10.0.0.1"'),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("invalid configuration: ")
    assert variable in message


def test_a_public_address_needs_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_PUBLIC_BASE_URL", "https://relay.example.jp")
    with pytest.raises(ConfigError, match="RELAY_SECRET_KEY"):
        load_settings()

    monkeypatch.setenv("RELAY_SECRET_KEY", "a-long-enough-secret-for-production")
    settings = load_settings()
    assert settings.production
    assert settings.secret() == "a-long-enough-secret-for-production"
    assert not Path("var/secret_key").exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000/", "http://[::1]:8000"]
)
def test_loopback_addresses_are_not_production(url: str) -> None:
    settings = Settings(public_base_url=url, _env_file=None)
    assert not settings.production
    assert not settings.public_base_url.endswith("/")


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ("RELAY_TWILIO_ACCOUNT_SID", "RELAY_TWILIO_AUTH_TOKEN"),
        ("RELAY_TWILIO_AUTH_TOKEN", "RELAY_TWILIO_ACCOUNT_SID"),
    ],
)
def test_twilio_credentials_come_in_pairs(
    present: str, missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(present, "AC0123456789abcdef0123456789abcdef")
    with pytest.raises(ConfigError, match=missing):
        load_settings()

    monkeypatch.setenv(missing, "AC0123456789abcdef0123456789abcdef")
    assert load_settings().twilio_enabled


def test_the_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(_env_file=None).secret()
    path = tmp_path / "var" / "secret_key"
    assert path.read_text().strip() == first
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    again = Settings(_env_file=None).secret()
    assert again == first


def test_get_settings_reads_once() -> None:
    assert get_settings() is get_settings()


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve"]])
@pytest.mark.parametrize(
    ("variable", "value"),
    [("RELAY_PORT", "abc"), ("RELAY_DATABASE_URL", "mysql://x"), ("RELAY_SMTP_TLS", "maybe")],
)
def test_the_cli_refuses_bad_configuration_with_one_line(
    command: list[str], variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(app, command, prog_name="relay")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"relay: invalid configuration: {variable}")
    assert not Path("var/relay.db").exists()


def test_unset_public_url_follows_where_relay_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)
    assert Settings(_env_file=None).public_base_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("RELAY_PORT", "8765")
    assert Settings(_env_file=None).public_base_url == "http://127.0.0.1:8765"
    monkeypatch.setenv("RELAY_PUBLIC_BASE_URL", "https://relay.example.jp/")
    monkeypatch.setenv("RELAY_SECRET_KEY", "a-long-enough-secret-key")
    assert Settings(_env_file=None).public_base_url == "https://relay.example.jp"
