"""FastAPI dependencies shared by every route: the database session and who is asking."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlmodel import Session

from service.auth import service as auth
from service.auth.models import Role, User
from service.db import transaction
from service.settings import Settings

SESSION_COOKIE = "relay_session"


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    with transaction(request.app.state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def get_optional_user(request: Request, session: SessionDep) -> User | None:
    """The user behind the Bearer token or the session cookie, if any."""
    token = _bearer_token(request)
    if token is not None:
        user = auth.user_for_api_token(session=session, token=token)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API token")
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return auth.user_for_session_token(session=session, token=cookie)
    return None


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUser) -> User:
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in or send an API token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets through only users with one of `roles`."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
        return user

    return check


CurrentAdmin = Annotated[User, Depends(require_roles(Role.admin))]
CurrentStaff = Annotated[User, Depends(require_roles(Role.admin, Role.operator))]
CurrentOperator = Annotated[User, Depends(require_roles(Role.operator))]
