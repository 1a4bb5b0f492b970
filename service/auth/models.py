"""Tables of the auth domain: users, browser sessions, API tokens, failed logins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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


class LoginFailure(SQLModel, table=True):
    __tablename__ = "login_failures"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, max_length=320)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
