"""Password sign-in, slowed down per client address and email, and per client address.

Failures are counted in two buckets within FAILURE_WINDOW: one per (email, client address)
and one per client address across every email. Each bucket is free for its first few
failures (PAIR_FREE_FAILURES, ADDRESS_FREE_FAILURES); after that each further attempt waits
2^(n - free) seconds (at most MAX_WAIT) from the bucket's last failure. So someone guessing
one person's password from one place is slowed down, someone trying one password across many
accounts from one place (spraying) is slowed down too, and the owner signing in from another
address is not locked out by either. Refused attempts are not checked and not counted. An
unknown email and a wrong password fail alike and both count, so the answer never tells
whether an account exists. A wrong second-factor code counts as a failure like a password.
An IPv6 client is counted by its /64 network, which one subscriber usually holds whole.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from datetime import timedelta
from functools import cache

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, delete, select

from service import clock
from service.auth import totp
from service.auth.models import LoginFailure, Role, User
from service.auth.service import (
    get_user_by_email,
    hash_password,
    normalise_email,
    verify_password,
)

FAILURE_WINDOW = timedelta(minutes=15)
FREE_FAILURES = PAIR_FREE_FAILURES = 5
# An office behind one address makes the odd typo; twenty failures in fifteen minutes across
# all its people is no typo.
ADDRESS_FREE_FAILURES = 20
MAX_WAIT = timedelta(minutes=15)
# Longer input is no password anyone typed; refusing it early keeps Argon2 from hashing megabytes.
MAX_PASSWORD_LENGTH = 1024
# How long the step between a right password and its second factor may take.
PENDING_LIFETIME = timedelta(minutes=10)


class LoginFailed(Exception):
    """The email and password (or the code) do not sign anyone in."""


class LoginThrottled(Exception):
    """Too many recent failures; `retry_after` says how long to wait."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after}")
        self.retry_after = retry_after


@cache
def _decoy_hash() -> str:
    # Verifying against a real Argon2 hash when there is no user keeps both answers equally slow.
    return hash_password("relay-decoy-password")


def _key(email: str) -> str:
    return normalise_email(email)[:320]


def _ip(ip: str | None) -> str:
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return (ip or "")[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        # One subscriber usually holds a whole /64: counted per address, each would be free.
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_ip(
    *, peer: str | None, forwarded_for: str | None, trusted: Sequence[str] = ()
) -> str | None:
    """The client's address: the socket peer, or, behind a trusted proxy, from X-Forwarded-For.

    The header is read right to left, skipping the trusted proxies that appended to it; the
    first address not trusted is the client's. Anything before it was written by the client
    itself and is ignored.
    """
    networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted]

    def is_trusted(address: str | None) -> bool:
        try:
            parsed = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(parsed in network for network in networks)

    if not networks or not is_trusted(peer):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a garbled entry: trust nothing written before it
        client = hop
        if not is_trusted(hop):
            break
    return client


def throttle_delay(failures: int, free: int = FREE_FAILURES) -> timedelta:
    """How long after the last failure the next attempt waits, given recent failures."""
    if failures < free:
        return timedelta(0)
    exponent = min(failures - free, 20)
    return min(timedelta(seconds=2**exponent), MAX_WAIT)


def _bucket_wait(session: Session, *conditions: ColumnElement[bool], free: int) -> timedelta | None:
    now = clock.now()
    count, last = session.exec(
        select(func.count(), func.max(LoginFailure.at)).where(
            col(LoginFailure.at) > now - FAILURE_WINDOW, *conditions
        )
    ).one()
    if last is None or count < free:
        return None
    remaining: timedelta = last + throttle_delay(count, free) - now
    return remaining if remaining > timedelta(0) else None


def login_wait(*, session: Session, email: str, ip: str | None = None) -> timedelta | None:
    """How long sign-in for `email` from `ip` is still refused, or None when it is allowed now."""
    address = _ip(ip)
    waits = [
        _bucket_wait(
            session,
            col(LoginFailure.email) == _key(email),
            col(LoginFailure.ip) == address,
            free=PAIR_FREE_FAILURES,
        ),
        # With no address known there is no address to hold to account.
        _bucket_wait(session, col(LoginFailure.ip) == address, free=ADDRESS_FREE_FAILURES)
        if address
        else None,
    ]
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


def record_login_failure(*, session: Session, email: str, ip: str | None = None) -> None:
    """Count a failed sign-in for `email` from `ip`, forgetting every failure too old to matter."""
    now = clock.now()
    # Pruned on every write, whoever it is for, so the table holds one window's failures at most.
    session.exec(delete(LoginFailure).where(col(LoginFailure.at) <= now - FAILURE_WINDOW))
    session.add(LoginFailure(email=_key(email), at=now, ip=_ip(ip)))
    session.flush()


def clear_login_failures(*, session: Session, email: str, ip: str | None = None) -> None:
    """Forget the failed sign-ins of `email` from `ip` (after a successful one)."""
    session.exec(
        delete(LoginFailure).where(
            col(LoginFailure.email) == _key(email), col(LoginFailure.ip) == _ip(ip)
        )
    )
    session.flush()


def authenticate(*, session: Session, email: str, password: str, ip: str | None = None) -> User:
    """The user these credentials sign in; raises LoginThrottled or LoginFailed otherwise."""
    wait = login_wait(session=session, email=email, ip=ip)
    if wait is not None:
        raise LoginThrottled(wait)
    user = get_user_by_email(session=session, email=email) if len(email) <= 320 else None
    if len(password) > MAX_PASSWORD_LENGTH:
        ok = False
    elif user is None or not user.active or not user.password_hash:
        verify_password(password=password, password_hash=_decoy_hash())
        ok = False
    else:
        ok = verify_password(password=password, password_hash=user.password_hash)
    if not ok or user is None:
        record_login_failure(session=session, email=email, ip=ip)
        raise LoginFailed("wrong email or password")
    clear_login_failures(session=session, email=email, ip=ip)
    return user


def check_second_factor(*, session: Session, user: User, code: str, ip: str | None = None) -> str:
    """Accept `user`'s TOTP or recovery code, saying which; throttled like a password."""
    wait = login_wait(session=session, email=user.email, ip=ip)
    if wait is not None:
        raise LoginThrottled(wait)
    method = totp.verify_code(session=session, user=user, code=code)
    if method is None:
        record_login_failure(session=session, email=user.email, ip=ip)
        raise LoginFailed("wrong code")
    clear_login_failures(session=session, email=user.email, ip=ip)
    return method


# What a right password leads to: straight in, a code first, or enrolment first.
NEXT_SIGNED_IN = "in"
NEXT_CODE = "code"
NEXT_ENROL = "enrol"


def second_step(*, session: Session, user: User) -> str:
    """What `user` must do after a right password: NEXT_SIGNED_IN, NEXT_CODE or NEXT_ENROL."""
    if totp.is_enabled(session=session, user=user):
        return NEXT_CODE
    if user.role in (Role.admin, Role.operator) and totp.required_for_staff(session=session):
        return NEXT_ENROL
    return NEXT_SIGNED_IN


def _pending_fingerprint(user: User) -> str:
    # Bound to the password: a new password voids a half-finished sign-in.
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def _pending_mac(secret: str, body: str) -> str:
    key = secret.encode()
    return hmac.new(key, f"relay-pending-sign-in:{body}".encode(), hashlib.sha256).hexdigest()


def pending_token(*, secret: str, user: User, step: str) -> str:
    """A signed note that `user`'s password was right, for the second step `step` only."""
    issued = int(clock.now().timestamp())
    body = f"{user.id}.{step}.{issued}.{_pending_fingerprint(user)}"
    return f"{body}.{_pending_mac(secret, body)}"


def pending_user(
    *, session: Session, secrets: Sequence[str], token: str | None, step: str
) -> User | None:
    """The user a token signed with any of `secrets` names, for `step`, if fresh and still apt."""
    if not token or len(token) > 300:
        return None
    body, _, mac = token.rpartition(".")
    if not any(
        hmac.compare_digest(mac.encode(), _pending_mac(secret, body).encode()) for secret in secrets
    ):
        return None
    parts = body.split(".")
    if len(parts) != 4 or parts[1] != step or not parts[2].isdigit():
        return None
    age = clock.now().timestamp() - int(parts[2])
    if not 0 <= age <= PENDING_LIFETIME.total_seconds():
        return None
    user = session.get(User, parts[0])
    if user is None or not user.active or _pending_fingerprint(user) != parts[3]:
        return None
    return user
