"""Relay's configuration: one class, read from `RELAY_*` variables and `.env`."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import tempfile
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.paths import var_dir


class ConfigError(Exception):
    """A configuration that Relay refuses to start with; the message is one line."""


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Every setting of CONTRACT §2."""

    model_config = SettingsConfigDict(
        env_prefix="RELAY_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: str = "sqlite:///var/relay.db"
    secret_key: SecretStr | None = None
    # Keys RELAY_SECRET_KEY held before: what they signed or sealed is still accepted, and
    # nothing new is signed with them. Read as a JSON list or as comma-separated entries.
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Unset, it is where `relay serve` listens (http://127.0.0.1:8000 by default), so links
    # sent from a local install on another port still work.
    public_base_url: str = ""

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_sms_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    # Who the operators are on Twilio: client identities, SIP URIs or E.164 numbers.
    twilio_operator_targets: list[str] = Field(default_factory=lambda: ["client:operators"])
    twilio_ring_timeout: int = Field(default=25, ge=5, le=120)

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "starttls"
    mail_from: str = "relay@localhost"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # A bearer token that may read /metrics (a Prometheus scraper); staff may read it anyway.
    metrics_token: SecretStr | None = None

    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Proxies (addresses or networks) whose X-Forwarded-For names the client; none: the peer is.
    # Read as a JSON list or as comma-separated entries.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ack_link_days: int = Field(default=30, ge=1, le=365)
    # How long an invitation or password-reset link stays usable.
    invite_hours: int = Field(default=72, ge=1, le=24 * 30)

    # Chat delivery (CONTRACT §8). Unset, chat messages go out when links do (a public
    # RELAY_PUBLIC_BASE_URL) and to the dev outbox on a local install.
    chat_delivery: Literal["live", "outbox"] | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_base: str = "https://slack.com/api"
    chatwork_api_base: str = "https://api.chatwork.com/v2"
    line_api_base: str = "https://api.line.me"
    lineworks_api_base: str = "https://www.worksapis.com/v1.0"
    lineworks_auth_url: str = "https://auth.worksmobile.com/oauth2/v2.0/token"

    # The bureau's own time zone: staff pages that belong to no one company (the audit trail,
    # the dev outbox) show times in it.
    timezone: str = "Asia/Tokyo"

    # When the nightly purge of expired records (each company's `retention:`) starts, and
    # in which time zone that clock time is read.
    purge_at: str = "03:00"
    purge_timezone: str = "Asia/Tokyo"

    @field_validator("purge_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            moment = time.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("must be a time of day as HH:MM, e.g. 03:00") from None
        if len(value.strip()) != 5 or moment.second or moment.tzinfo is not None:
            raise ValueError("must be a time of day as HH:MM, e.g. 03:00")
        return value.strip()

    @field_validator("timezone", "purge_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone, e.g. Asia/Tokyo") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _local_public_url(self) -> Settings:
        if not self.public_base_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
            self.public_base_url = f"http://{host}:{self.port}"
        return self

    @field_validator("trusted_proxies", "previous_secret_keys", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # A JSON list, or the friendlier comma-separated form.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [entry.strip() for entry in text.split(",") if entry.strip()]
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _long_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 16 for key in value):
            raise ValueError("each key must be at least 16 characters")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return [entry.strip() for entry in value]

    @field_validator(
        "twilio_api_base",
        "slack_api_base",
        "chatwork_api_base",
        "line_api_base",
        "lineworks_api_base",
        "lineworks_auth_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _checked_url(value)

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _checked_url(value) if value else value

    @model_validator(mode="after")
    def _safe_for_production(self) -> Settings:
        if (self.twilio_account_sid is None) != (self.twilio_auth_token is None):
            missing = "AUTH_TOKEN" if self.twilio_auth_token is None else "ACCOUNT_SID"
            raise ValueError(f"RELAY_TWILIO_{missing} must be set together with the other")
        if self.production and self.secret_key is None:
            raise ValueError(
                "RELAY_SECRET_KEY must be set when RELAY_PUBLIC_BASE_URL is not a loopback address"
            )
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 16:
            raise ValueError("RELAY_SECRET_KEY must be at least 16 characters")
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 16:
            raise ValueError("RELAY_METRICS_TOKEN must be at least 16 characters")
        return self

    @property
    def production(self) -> bool:
        """True when links go out to a public address, so unsafe defaults are refused."""
        return not _is_loopback_url(self.public_base_url)

    @property
    def chat_live(self) -> bool:
        """Whether chat messages go to their platforms (else to the dev outbox)."""
        if self.chat_delivery is not None:
            return self.chat_delivery == "live"
        return self.production

    @property
    def twilio_enabled(self) -> bool:
        return self.twilio_account_sid is not None and self.twilio_auth_token is not None

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def purge_time(self) -> time:
        """The time of day the nightly purge starts, in `purge_timezone`."""
        return time.fromisoformat(self.purge_at)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret(self) -> str:
        """The signing key: configured, or generated once into `var/secret_key`."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path: Path = var_dir() / "secret_key"
        if not path.exists():
            _create_private(path, secrets.token_urlsafe(48))
        return path.read_text().strip()

    def verifying_secrets(self) -> list[str]:
        """The keys a signature or sealed value is checked against: the current one first."""
        current = self.secret()
        previous = [key.get_secret_value() for key in self.previous_secret_keys]
        return [current, *(key for key in dict.fromkeys(previous) if key != current)]


def _create_private(path: Path, text: str) -> None:
    """Write `text` to a new file `path` readable by this user alone from its first byte.

    Written aside and linked into place, so a process starting at the same moment reads either
    no file or the whole one; if one was linked first, it stands.
    """
    descriptor, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    finally:
        os.unlink(aside)


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if not field:
        return f"invalid configuration: {message}"
    return f"invalid configuration: RELAY_{field.upper()}: {message}"


def load_settings() -> Settings:
    """Read the settings now, raising ConfigError with one line naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
