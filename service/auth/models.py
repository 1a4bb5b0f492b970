"""Tables of the auth domain: users, browser sessions, API tokens, password links, failed logins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Column, Field, SQLModel

from service.db import UTCDateTime, new_id, str_enum


class Role(StrEnum):
    admin = "admin"
    operator = "operator"
    client = "client"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(index=True, unique=True, max_length=320)
    display_name: str = Field(default="", max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    role: Role = Field(sa_column=Column(str_enum(Role), nullable=False))
    # A client user belongs to exactly one company; staff belong to none.
    company_id: str | None = Field(default=None, foreign_key="companies.id", index=True)
    # False: disabled by an admin; they cannot sign in, and their sessions and tokens ended.
    active: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The language the user reads pages in ("ja", "en"); None: whatever their browser asks for.
    locale: str | None = Field(default=None, max_length=8)


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    # Only a hash of the cookie's token is stored, so a leaked table opens no session.
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # What the token is for, as its creator named it ("" for one made before tokens had names).
    name: str = Field(default="", sa_column=Column(String(100), nullable=False, server_default=""))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class LinkPurpose(StrEnum):
    invite = "invite"
    reset = "reset"


class PasswordLink(SQLModel, table=True):
    """A one-time link to set a password: an invitation or a password reset."""

    __tablename__ = "password_links"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # Only a hash of the link's token is stored, as for sessions and API tokens.
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    purpose: LinkPurpose = Field(sa_column=Column(str_enum(LinkPurpose), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Set when the link set a password, or when a newer link for the same user replaced it.
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class LoginFailure(SQLModel, table=True):
    __tablename__ = "login_failures"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, max_length=320)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # The client address the attempt came from ("" when unknown): failures are counted per
    # address and email together, and per address across every email.
    ip: str = Field(
        default="", sa_column=Column(String(64), nullable=False, server_default="", index=True)
    )


class TwoFactor(SQLModel, table=True):
    """A user's TOTP secret: pending until its first code is confirmed, then in force."""

    __tablename__ = "two_factor"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    # Base32, as authenticator apps take it; shown only while enrolling, never again.
    secret: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    enabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The last 30-second step a code was accepted for: a code is good once, not twice.
    last_step: int | None = Field(default=None)


class RecoveryCode(SQLModel, table=True):
    """A one-time code that stands in for a lost authenticator; only its hash is kept."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class TwoFactorPolicy(SQLModel, table=True):
    """The bureau-wide switch: one row (id 1), absent until an admin first sets it."""

    __tablename__ = "two_factor_policy"

    id: int = Field(default=1, primary_key=True)
    required_for_staff: bool = False
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_by: str | None = Field(default=None, max_length=320)
