"""`relay users`, `relay tokens` and `relay demo`."""

from __future__ import annotations

import secrets
import sys
from datetime import UTC, datetime, timedelta

import typer
from sqlmodel import Session, select

from service import clock
from service.auth import service as auth
from service.auth.models import Role
from service.cli_common import engine_or_exit, settings_or_exit
from service.companies.models import Company
from service.db import transaction
from service.errors import RelayError
from service.i18n import LOCALES
from service.settings import Settings

MIN_PASSWORD_LENGTH = auth.MIN_PASSWORD_LENGTH
DEMO_USERS = (
    ("admin@relay.example", Role.admin, "デモ管理者"),
    ("operator@relay.example", Role.operator, "デモオペレーター"),
)

users_app = typer.Typer(help="Users who sign in to Relay.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (Authorization: Bearer).", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"relay: {message}", err=True)
    return typer.Exit(1)


def _read_password() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise _fail(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _company_id(session: Session, slug: str) -> str:
    company = session.exec(select(Company).where(Company.slug == slug)).first()
    if company is None:
        raise _fail(f"no client company with slug {slug!r} (see `relay clients sync`)")
    return company.id


@users_app.command(
    "add",
    help=(
        "Add a user. An existing email is refused (exit 1). A client user belongs to the "
        "client company given by --client SLUG. Without --password-stdin the user has no "
        "password: they reach Relay with API tokens (relay tokens create EMAIL) until an admin "
        "invites them from /admin/users (or POST /api/v1/users), which emails them a link to "
        "choose one."
    ),
)
def users_add(
    email: str = typer.Argument(..., help="the user's email; it is their login"),
    role: Role = typer.Option(..., "--role", help="admin, operator or client"),
    client: str | None = typer.Option(
        None,
        "--client",
        metavar="SLUG",
        help="the client company of a client user (required for --role client)",
    ),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help=f"read the password from one line of stdin (at least {MIN_PASSWORD_LENGTH} chars)",
    ),
    name: str = typer.Option("", "--name", help="display name (default: the email's local part)"),
    locale: str | None = typer.Option(
        None,
        "--locale",
        metavar="|".join(LOCALES),
        help="the language the user reads pages in (default: their browser's)",
    ),
) -> None:
    """Add a user; an existing email is refused."""
    if role == Role.client and client is None:
        raise _fail("a client user must belong to a client company: add --client SLUG")
    if role != Role.client and client is not None:
        raise _fail("--client is only for --role client")
    password = _read_password() if password_stdin else None
    engine = engine_or_exit()
    try:
        with transaction(engine) as session:
            company_id = _company_id(session, client) if client is not None else None
            try:
                user = auth.create_user(
                    session=session,
                    email=email,
                    role=role,
                    password=password,
                    company_id=company_id,
                    display_name=name,
                    locale=locale,
                )
            except auth.UserError as error:
                raise _fail(str(error)) from None
    finally:
        engine.dispose()
    how = "with a password" if password else "without a password (API tokens only)"
    typer.echo(f"added {user.role} {user.email} {how}")


def _expiry(text: str | None) -> datetime | None:
    """`90d`, `12h` from now, or a date (the token works to the end of that day, UTC)."""
    if not text:
        return None
    value = text.strip().lower()
    try:
        if value[-1:] in ("d", "h") and value[:-1].isdigit():
            amount = int(value[:-1])
            return clock.now() + (
                timedelta(days=amount) if value[-1] == "d" else timedelta(hours=amount)
            )
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"--expires takes 90d, 12h or a date such as 2027-03-31, not {text!r}"
        ) from None
    if len(value) == 10:
        moment += timedelta(days=1)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@tokens_app.command("create")
def tokens_create(
    email: str = typer.Argument(..., help="the user the token acts as"),
    name: str = typer.Option("", "--name", help="what the token is for (shown in /admin/users)"),
    expires: str | None = typer.Option(
        None,
        "--expires",
        metavar="90d|12h|YYYY-MM-DD",
        help="when the token stops working (default: never; revoke it from /admin/users)",
    ),
) -> None:
    """Print a new API token for the user, alone on one line; it is stored hashed, shown once."""
    expires_at = _expiry(expires)
    engine = engine_or_exit()
    try:
        with transaction(engine) as session:
            user = auth.get_user_by_email(session=session, email=email)
            if user is None:
                raise _fail(f"no user with email {auth.normalise_email(email)}")
            try:
                token = auth.create_api_token(
                    session=session, user=user, name=name, expires_at=expires_at
                )
            except RelayError as error:
                raise _fail(str(error)) from None
    finally:
        engine.dispose()
    typer.echo(token)


def _ensure_demo_user(session: Session, email: str, role: Role, name: str) -> str:
    password = secrets.token_urlsafe(12)
    user = auth.get_user_by_email(session=session, email=email)
    if user is None:
        auth.create_user(
            session=session, email=email, role=role, password=password, display_name=name
        )
        return password
    user.role = role
    user.company_id = None
    user.active = True
    auth.set_password(session=session, user=user, password=password)
    return password


def _site_url(settings: Settings) -> str:
    if "public_base_url" in settings.model_fields_set:
        return settings.public_base_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    return f"http://{host}:{settings.port}"


def demo() -> None:
    """Make sure a demo admin and operator exist, give them new passwords, and print them."""
    settings = settings_or_exit()
    engine = engine_or_exit()
    try:
        with transaction(engine) as session:
            passwords = [_ensure_demo_user(session, *demo_user) for demo_user in DEMO_USERS]
    finally:
        engine.dispose()
    typer.echo(f"Relay: {_site_url(settings)}/login")
    for (email, role, _), password in zip(DEMO_USERS, passwords, strict=True):
        typer.echo(f"  {role.value:<9} {email:<24} password: {password}")


def register(app: typer.Typer) -> None:
    """Add the auth commands to `relay`."""
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.command("demo")(demo)
