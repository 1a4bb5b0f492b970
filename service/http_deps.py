"""FastAPI dependencies shared by every route: the database session and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlmodel import Session

from service.audit.service import Actor
from service.auth import service as auth
from service.auth.login import client_ip
from service.auth.models import Role, User
from service.errors import Forbidden, Unauthenticated
from service.i18n import LOCALES, N_, negotiate
from service.settings import Settings

SESSION_COOKIE = "relay_session"


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    The session is opened here without touching the database (it connects on first use, in
    the route's thread) and finished in one worker-thread call, rather than two.
    """
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        await _finish(session, commit=False)
        raise
    await _finish(session, commit=True)


async def _finish(session: Session, *, commit: bool) -> None:
    if not (session.in_transaction() or session.new or session.dirty or session.deleted):
        session.close()  # nothing was read or written: nothing to end
        return
    # Shielded: a client that hangs up must not leave the transaction (and, on SQLite, the
    # write lock) open. A limiter of its own, as FastAPI uses for a dependency's exit: with
    # every shared worker thread busy waiting for that write lock, waiting for one of them
    # to end the transaction holding it would wait for ever.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(_end, session, commit, limiter=anyio.CapacityLimiter(1))


def _end(session: Session, commit: bool) -> None:
    with session:
        if commit:
            session.commit()
        else:
            session.rollback()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# "function" scope: the transaction commits before the response is sent, so a 201 means the
# data is durable (FastAPI's default would commit after the answer had gone out).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def get_optional_user(request: Request) -> User | None:
    """The user behind the Bearer token or the session cookie, if any.

    Looked up in a read-only session of its own, so that on SQLite a request holds the
    write lock only for its own writes, not while it finds out who is asking.
    """
    token = _bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if token is None and not cookie:
        return None
    with Session(request.app.state.reader, expire_on_commit=False) as session:
        if token is not None:
            use = auth.api_token_use(session=session, token=token)
            if use is None:
                raise Unauthenticated(N_("This API token is not valid."), code="bad_token")
            auth.note_api_token_use(engine=request.app.state.engine, use=use)
            return _with_reader_locale(request, use.user)
        assert cookie is not None
        return _with_reader_locale(
            request, auth.user_for_session_token(session=session, token=cookie)
        )


def _with_reader_locale(request: Request, user: User | None) -> User | None:
    # Remembered on the request, so that its pages and its error answers speak the user's
    # language without asking the database again.
    if user is not None:
        request.state.reader_locale = user.locale
    return user


def reader_locale(request: Request) -> str:
    """The language to answer this request in; never raises, never reads the database.

    In order: a company's language a route must speak (`request.state.locale`, set by
    service.web.templating.use_locale: the acknowledgement page), the signed-in user's own
    setting (`request.state.reader_locale`), a company's language a route offers in its place
    (`request.state.company_locale`, set by service.web.templating.company_locale: a client
    user's pages), the browser's `Accept-Language`.
    """
    state = request.state
    for name in ("locale", "reader_locale", "company_locale"):
        chosen = getattr(state, name, None)
        if chosen in LOCALES:
            return str(chosen)
    return negotiate(request.headers.get("accept-language"))


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def _signed_in(user: User | None) -> User:
    if user is None:
        raise Unauthenticated(N_("Sign in or send an API token."))
    return user


async def get_current_user(user: OptionalUser) -> User:
    return _signed_in(user)


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User | None], Awaitable[User]]:
    """A dependency that lets through only users with one of `roles`."""

    async def check(user: OptionalUser) -> User:
        signed_in = _signed_in(user)
        if signed_in.role not in roles:
            raise Forbidden(N_("Your role may not do this."))
        return signed_in

    return check


CurrentAdmin = Annotated[User, Depends(require_roles(Role.admin))]
CurrentStaff = Annotated[User, Depends(require_roles(Role.admin, Role.operator))]
CurrentOperator = Annotated[User, Depends(require_roles(Role.operator))]


def client_address(request: Request) -> str | None:
    """The client's address: the socket peer, or behind RELAY_TRUSTED_PROXIES the forwarded one."""
    settings: Settings = request.app.state.settings
    return client_ip(
        peer=request.client.host if request.client else None,
        forwarded_for=request.headers.get("x-forwarded-for"),
        trusted=settings.trusted_proxies,
    )


def actor_of(request: Request, user: User) -> Actor:
    """`user` as the audit trail names whoever acts through this request."""
    return Actor(name=user.email, user_id=user.id, ip=client_address(request))
