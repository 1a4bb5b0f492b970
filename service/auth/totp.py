"""Two-factor sign-in with time-based one-time codes (TOTP, RFC 6238) and recovery codes.

A user enrols in two steps: a secret is made and shown (text and QR code) while pending, and
takes effect once a code from it is confirmed; only then are the one-time recovery codes made,
shown once and kept as hashes. An accepted code's time step is remembered, so the same code
cannot be used twice. The bureau may require two-factor sign-in for staff (admins, operators).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

import pyotp
import segno
from sqlmodel import Session, col, delete, select

from service import clock
from service.auth import service as auth
from service.auth.models import RecoveryCode, Role, TwoFactor, TwoFactorPolicy, User

ISSUER = "Relay"
RECOVERY_CODE_COUNT = 10
# Lower-case letters and digits without 0/o, 1/l, which are easy to misread on paper.
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
# One step either side of now: a phone clock up to 30 seconds off still works.
VALID_WINDOW = 1
STAFF = (Role.admin, Role.operator)


class CodeRejected(ValueError):
    """The code given is not a current code of this user's authenticator."""


def _digest(code: str) -> str:
    # Recovery codes carry 80 random bits, so a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(code.encode()).hexdigest()


def _clean(code: str) -> str:
    # Full-width digits from a Japanese keyboard, spaces and dashes from copying: all forgiven.
    folded = unicodedata.normalize("NFKC", code).strip().lower()
    return "".join(char for char in folded if char.isalnum())


def _record(session: Session, user: User) -> TwoFactor | None:
    return session.get(TwoFactor, user.id)


def is_enabled(*, session: Session, user: User) -> bool:
    """Whether `user` signs in with a code after the password."""
    record = _record(session, user)
    return record is not None and record.enabled_at is not None


def start_enrolment(*, session: Session, user: User) -> TwoFactor:
    """The pending secret for `user` to add to an authenticator (made now if there is none)."""
    record = _record(session, user)
    if record is not None and record.enabled_at is not None:
        raise ValueError("two-factor sign-in is already on for this user")
    if record is None:
        record = TwoFactor(user_id=user.id, secret=pyotp.random_base32(), created_at=clock.now())
        session.add(record)
        session.flush()
    return record


def provisioning_uri(*, user: User, secret: str) -> str:
    """The otpauth:// link an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline SVG element (no script, no external reference)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return svg


def _accept_totp(record: TwoFactor, code: str) -> bool:
    if len(code) != 6 or not code.isdigit():
        return False
    now = clock.now()
    generator = pyotp.TOTP(record.secret)
    step_now = generator.timecode(now)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        step = step_now + offset
        if record.last_step is not None and step <= record.last_step:
            continue  # used already, or older than a code used already
        if secrets.compare_digest(generator.generate_otp(step), code):
            record.last_step = step
            return True
    return False


def confirm_enrolment(*, session: Session, user: User, code: str) -> list[str]:
    """Turn two-factor on with a first code from the pending secret; returns the recovery codes."""
    record = _record(session, user)
    if record is None or record.enabled_at is not None:
        raise CodeRejected("no enrolment is waiting for a code")
    if not _accept_totp(record, _clean(code)):
        raise CodeRejected("wrong code")
    record.enabled_at = clock.now()
    session.add(record)
    session.flush()
    return new_recovery_codes(session=session, user=user)


def new_recovery_codes(*, session: Session, user: User) -> list[str]:
    """A fresh set of recovery codes for `user`, replacing any left; shown once, kept hashed."""
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
        session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw)))
    session.flush()
    return codes


def recovery_codes_left(*, session: Session, user: User) -> int:
    """How many of `user`'s recovery codes are still unused."""
    rows = session.exec(
        select(RecoveryCode).where(
            col(RecoveryCode.user_id) == user.id, col(RecoveryCode.used_at).is_(None)
        )
    ).all()
    return len(rows)


def verify_code(*, session: Session, user: User, code: str) -> str | None:
    """Use `user`'s `code`: "totp" or "recovery" (spent now) when accepted, else None."""
    record = _record(session, user)
    if record is None or record.enabled_at is None:
        return None
    cleaned = _clean(code)[:64]
    if _accept_totp(record, cleaned):
        session.add(record)
        session.flush()
        return "totp"
    if len(cleaned) != 16:
        return None
    spare = session.exec(
        select(RecoveryCode).where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == _digest(cleaned),
            col(RecoveryCode.used_at).is_(None),
        )
    ).first()
    if spare is None:
        return None
    spare.used_at = clock.now()
    session.add(spare)
    session.flush()
    return "recovery"


def remove(*, session: Session, user: User) -> None:
    """Turn two-factor off for `user`: secret and recovery codes are deleted."""
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    session.exec(delete(TwoFactor).where(col(TwoFactor.user_id) == user.id))
    session.flush()


def required_for_staff(*, session: Session) -> bool:
    """Whether the bureau requires admins and operators to sign in with a code."""
    policy = session.get(TwoFactorPolicy, 1)
    return policy is not None and policy.required_for_staff


def must_use(*, session: Session, user: User) -> bool:
    """Whether `user` may not be without two-factor sign-in."""
    return user.role in STAFF and required_for_staff(session=session)


def set_required_for_staff(*, session: Session, required: bool, by: User) -> bool:
    """Set the bureau's switch; returns whether it changed.

    Turning it on ends the browser sessions of staff not yet enrolled (but `by`'s own), so
    each of them enrols at their next sign-in rather than whenever that session ends.
    """
    policy = session.get(TwoFactorPolicy, 1)
    if policy is None:
        policy = TwoFactorPolicy(id=1)
    changed = policy.required_for_staff != required
    policy.required_for_staff = required
    policy.updated_at = clock.now()
    policy.updated_by = by.email
    session.add(policy)
    session.flush()
    if changed and required:
        enrolled = select(TwoFactor.user_id).where(col(TwoFactor.enabled_at).is_not(None))
        staff = session.exec(
            select(User).where(
                col(User.role).in_(list(STAFF)),
                col(User.id).not_in(enrolled),
                col(User.id) != by.id,
            )
        ).all()
        for member in staff:
            auth.end_user_sessions(session=session, user=member)
    return changed


def staff_enrolment(*, session: Session) -> list[tuple[User, bool]]:
    """Every active admin and operator, by email, with whether two-factor sign-in is on."""
    enrolled = set(
        session.exec(select(TwoFactor.user_id).where(col(TwoFactor.enabled_at).is_not(None))).all()
    )
    staff = session.exec(
        select(User)
        .where(col(User.role).in_(list(STAFF)), col(User.active).is_(True))
        .order_by(col(User.email))
    ).all()
    return [(member, member.id in enrolled) for member in staff]
