"""Two-factor codes in the domain: enrolling, codes good once, recovery codes, the staff switch."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlmodel import Session, select

from service.auth import service as auth
from service.auth import totp
from service.auth.models import RecoveryCode, Role, TwoFactor, User
from service.clock import ManualClock
from tests.factories import make_user


def code_now(session: Session, user: User, clock: ManualClock, *, steps: int = 0) -> str:
    """The code `user`'s authenticator shows at the test clock's time (`steps` of 30 s later)."""
    record = session.get(TwoFactor, user.id)
    assert record is not None
    return pyotp.TOTP(record.secret).at(clock.now() + timedelta(seconds=30 * steps))


def enrolled(session: Session, user: User, clock: ManualClock) -> list[str]:
    """Enrol `user` with a right first code; returns the recovery codes."""
    totp.start_enrolment(session=session, user=user)
    codes = totp.confirm_enrolment(session=session, user=user, code=code_now(session, user, clock))
    clock.advance(timedelta(seconds=30))  # the next code is a new one
    return codes


def test_enrolment_is_pending_until_a_first_code_confirms_it(
    session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp")
    pending = totp.start_enrolment(session=session, user=user)

    assert not totp.is_enabled(session=session, user=user)
    assert totp.start_enrolment(session=session, user=user).secret == pending.secret
    with pytest.raises(totp.CodeRejected):
        totp.confirm_enrolment(session=session, user=user, code="000000")
    assert not totp.is_enabled(session=session, user=user)

    codes = totp.confirm_enrolment(session=session, user=user, code=code_now(session, user, clock))

    assert totp.is_enabled(session=session, user=user)
    assert len(codes) == totp.RECOVERY_CODE_COUNT == len(set(codes))
    stored = session.exec(select(RecoveryCode.code_hash)).all()
    assert not set(codes) & set(stored)  # only hashes are kept
    with pytest.raises(ValueError, match="already on"):
        totp.start_enrolment(session=session, user=user)


def test_the_qr_code_is_an_inline_svg_of_the_otpauth_link(
    session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp")
    secret = totp.start_enrolment(session=session, user=user).secret

    uri = totp.provisioning_uri(user=user, secret=secret)
    svg = totp.qr_svg(uri)

    assert uri.startswith("otpauth://totp/Relay:kato%40example.jp?")
    assert f"secret={secret}" in uri
    assert svg.startswith("<svg") and "<script" not in svg and "href" not in svg


def test_a_code_is_accepted_once_and_a_step_either_side(
    session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp")
    enrolled(session, user, clock)
    code = code_now(session, user, clock)

    assert totp.verify_code(session=session, user=user, code=code) == "totp"
    assert totp.verify_code(session=session, user=user, code=code) is None  # replayed
    late = code_now(session, user, clock, steps=1)
    assert totp.verify_code(session=session, user=user, code=late) == "totp"
    too_far = code_now(session, user, clock, steps=3)
    assert totp.verify_code(session=session, user=user, code=too_far) is None


def test_full_width_digits_and_spaces_are_forgiven(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp")
    enrolled(session, user, clock)
    code = code_now(session, user, clock)
    typed = (
        " "
        + code[:3].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        + " "
        + code[3:]
    )

    assert totp.verify_code(session=session, user=user, code=typed) == "totp"


def test_a_recovery_code_works_once(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp")
    codes = enrolled(session, user, clock)

    assert totp.verify_code(session=session, user=user, code=codes[3].upper()) == "recovery"
    assert totp.verify_code(session=session, user=user, code=codes[3]) is None
    assert totp.recovery_codes_left(session=session, user=user) == totp.RECOVERY_CODE_COUNT - 1


def test_no_code_works_without_enrolment(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp")
    totp.start_enrolment(session=session, user=user)

    assert totp.verify_code(session=session, user=user, code=code_now(session, user, clock)) is None


def test_removing_deletes_the_secret_and_the_recovery_codes(
    session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp")
    codes = enrolled(session, user, clock)

    totp.remove(session=session, user=user)

    assert not totp.is_enabled(session=session, user=user)
    assert session.exec(select(RecoveryCode)).all() == []
    assert totp.verify_code(session=session, user=user, code=codes[0]) is None


def test_requiring_it_for_staff_ends_the_sessions_of_staff_not_enrolled(
    session: Session, clock: ManualClock
) -> None:
    admin = make_user(session, email="admin@example.jp", role=Role.admin)
    ready = make_user(session, email="ready@example.jp")
    enrolled(session, ready, clock)
    late = make_user(session, email="late@example.jp")
    tokens = {
        person.email: auth.create_web_session(
            session=session, user=person, lifetime=timedelta(hours=1)
        )
        for person in (admin, ready, late)
    }

    assert not totp.must_use(session=session, user=late)
    assert totp.set_required_for_staff(session=session, required=True, by=admin)

    assert totp.required_for_staff(session=session)
    assert totp.must_use(session=session, user=late) and totp.must_use(session=session, user=admin)
    assert auth.user_for_session_token(session=session, token=tokens["late@example.jp"]) is None
    assert auth.user_for_session_token(session=session, token=tokens["ready@example.jp"]) == ready
    # The admin who flipped it keeps their session; they enrol at their next sign-in.
    assert auth.user_for_session_token(session=session, token=tokens["admin@example.jp"]) == admin
    client_user = User(email="sato@example.jp", role=Role.client, created_at=clock.now())
    assert not totp.must_use(session=session, user=client_user)
    assert not totp.set_required_for_staff(session=session, required=True, by=admin)
    assert totp.set_required_for_staff(session=session, required=False, by=admin)
    assert not totp.must_use(session=session, user=late)
