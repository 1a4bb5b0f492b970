"""Password sign-in in the domain: failures counted per email and client address, and per
client address; waits that grow; clean-up; the client address behind proxies; the note that
carries a right password to its second step."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from service.auth import service as auth
from service.auth import totp
from service.auth.login import (
    ADDRESS_FREE_FAILURES,
    NEXT_CODE,
    NEXT_ENROL,
    NEXT_SIGNED_IN,
    LoginFailed,
    LoginThrottled,
    authenticate,
    check_second_factor,
    client_ip,
    login_wait,
    pending_token,
    pending_user,
    record_login_failure,
    second_step,
    throttle_delay,
)
from service.auth.models import LoginFailure, Role, WebSession
from service.clock import ManualClock
from tests.factories import make_user

PASSWORD = "correct horse battery"


def _failures(session: Session) -> int:
    return session.exec(select(func.count()).select_from(LoginFailure)).one()


def _fail_times(session: Session, email: str, times: int, ip: str | None = None) -> None:
    for _ in range(times):
        with pytest.raises(LoginFailed):
            authenticate(session=session, email=email, password="guess", ip=ip)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (4, 0), (5, 1), (6, 2), (9, 16), (14, 512), (15, 900), (60, 900)],
)
def test_the_delay_doubles_from_the_fifth_failure_up_to_15_minutes(
    failures: int, seconds: int
) -> None:
    assert throttle_delay(failures) == timedelta(seconds=seconds)


def test_right_password_signs_in_and_clears_failures(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    _fail_times(session, "kato@example.jp", 3)

    assert authenticate(session=session, email=" KATO@example.jp ", password=PASSWORD) == user
    assert _failures(session) == 0


def test_failures_are_counted_by_normalised_email(session: Session, clock: ManualClock) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    for spelling in ["kato@example.jp", "KATO@example.jp", " Kato@Example.JP", "kato@example.jp"]:
        _fail_times(session, spelling, 1)
    _fail_times(session, "kato@example.jp", 1)

    wait = login_wait(session=session, email="kato@example.jp")

    assert wait == timedelta(seconds=1)


def test_refused_attempts_are_neither_checked_nor_counted(
    session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    _fail_times(session, "kato@example.jp", 5)

    with pytest.raises(LoginThrottled) as refused:
        authenticate(session=session, email="kato@example.jp", password=PASSWORD)

    assert refused.value.retry_after == timedelta(seconds=1)
    assert _failures(session) == 5


def test_another_email_is_not_slowed_down(session: Session, clock: ManualClock) -> None:
    make_user(session, email="mori@example.jp", password=PASSWORD)
    _fail_times(session, "kato@example.jp", 5)

    assert authenticate(session=session, email="mori@example.jp", password=PASSWORD).email == (
        "mori@example.jp"
    )


def test_the_wait_counts_from_the_last_failure(session: Session, clock: ManualClock) -> None:
    _fail_times(session, "kato@example.jp", 5)
    clock.advance(timedelta(seconds=1))
    _fail_times(session, "kato@example.jp", 1)  # the sixth failure: 2 s from now
    clock.advance(timedelta(milliseconds=500))

    assert login_wait(session=session, email="kato@example.jp") == timedelta(seconds=1.5)
    clock.advance(timedelta(seconds=1.5))
    assert login_wait(session=session, email="kato@example.jp") is None


def test_old_failures_are_deleted_when_a_new_one_is_recorded(
    session: Session, clock: ManualClock
) -> None:
    _fail_times(session, "kato@example.jp", 4)
    clock.advance(timedelta(minutes=15, seconds=1))

    record_login_failure(session=session, email="kato@example.jp")

    assert _failures(session) == 1


def test_an_overlong_password_fails_without_hashing(session: Session, clock: ManualClock) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)

    with pytest.raises(LoginFailed):
        authenticate(session=session, email="kato@example.jp", password=PASSWORD * 1000)
    assert _failures(session) == 1


def test_an_inactive_user_cannot_sign_in(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    user.active = False
    session.add(user)
    session.flush()

    with pytest.raises(LoginFailed):
        authenticate(session=session, email="kato@example.jp", password=PASSWORD)


def test_a_new_password_signs_the_user_out_everywhere(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    token = auth.create_web_session(session=session, user=user, lifetime=timedelta(hours=1))
    other = make_user(session, email="mori@example.jp", password=PASSWORD)
    kept = auth.create_web_session(session=session, user=other, lifetime=timedelta(hours=1))

    auth.set_password(session=session, user=user, password="新しいパスワード 2026")

    assert auth.user_for_session_token(session=session, token=token) is None
    assert auth.user_for_session_token(session=session, token=kept) == other
    assert session.exec(select(func.count()).select_from(WebSession)).one() == 1
    assert authenticate(session=session, email="kato@example.jp", password="新しいパスワード 2026")
    with pytest.raises(LoginFailed):
        authenticate(session=session, email="kato@example.jp", password=PASSWORD)


ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def test_the_owner_signs_in_from_elsewhere_while_an_attacker_is_throttled(
    session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    _fail_times(session, "kato@example.jp", 5, ip=ATTACKER)
    for _ in range(3):
        with pytest.raises(LoginThrottled):
            authenticate(session=session, email="kato@example.jp", password="guess", ip=ATTACKER)

    signed_in = authenticate(session=session, email="kato@example.jp", password=PASSWORD, ip=OWNER)

    assert signed_in == user
    # The owner's success forgets only their own failures: the attacker is still held back.
    assert login_wait(session=session, email="kato@example.jp", ip=ATTACKER) == timedelta(seconds=1)
    with pytest.raises(LoginThrottled):
        authenticate(session=session, email="kato@example.jp", password=PASSWORD, ip=ATTACKER)


def test_one_password_sprayed_across_accounts_is_throttled_per_address(
    session: Session, clock: ManualClock
) -> None:
    make_user(session, email="mori@example.jp", password=PASSWORD)
    for number in range(ADDRESS_FREE_FAILURES):
        _fail_times(session, f"user{number}@example.jp", 1, ip=ATTACKER)

    with pytest.raises(LoginThrottled) as refused:
        authenticate(session=session, email="mori@example.jp", password=PASSWORD, ip=ATTACKER)

    assert refused.value.retry_after == timedelta(seconds=1)
    # Another address is not held back, for the same account or any other.
    assert authenticate(session=session, email="mori@example.jp", password=PASSWORD, ip=OWNER)
    assert login_wait(session=session, email="user0@example.jp", ip=OWNER) is None


def test_spraying_waits_double_and_end_with_the_window(
    session: Session, clock: ManualClock
) -> None:
    for number in range(ADDRESS_FREE_FAILURES + 3):
        clock.advance(timedelta(minutes=1) if number >= ADDRESS_FREE_FAILURES else timedelta(0))
        _fail_times(session, f"user{number}@example.jp", 1, ip=ATTACKER)

    assert login_wait(session=session, email="new@example.jp", ip=ATTACKER) == timedelta(seconds=8)
    clock.advance(timedelta(minutes=13))  # the first twenty are now older than the window
    assert login_wait(session=session, email="new@example.jp", ip=ATTACKER) is None


def test_a_pair_window_expires(session: Session, clock: ManualClock) -> None:
    _fail_times(session, "kato@example.jp", 5, ip=ATTACKER)
    clock.advance(timedelta(minutes=14, seconds=59))
    _fail_times(session, "kato@example.jp", 1, ip=ATTACKER)  # within the window: a sixth

    assert login_wait(session=session, email="kato@example.jp", ip=ATTACKER) == timedelta(seconds=2)
    clock.advance(timedelta(seconds=1))  # the first five fall out of the window
    assert login_wait(session=session, email="kato@example.jp", ip=ATTACKER) is None


def test_every_failure_older_than_the_window_is_pruned(
    session: Session, clock: ManualClock
) -> None:
    for number in range(30):
        _fail_times(session, f"user{number}@example.jp", 1, ip=f"192.0.2.{number}")
    clock.advance(timedelta(minutes=15))

    record_login_failure(session=session, email="kato@example.jp", ip=ATTACKER)

    rows = session.exec(select(LoginFailure)).all()
    assert [(row.email, row.ip) for row in rows] == [("kato@example.jp", ATTACKER)]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("198.51.100.7", "203.0.113.66", [], "198.51.100.7"),  # no proxy trusted: the peer
        ("198.51.100.7", "203.0.113.66", ["10.0.0.0/8"], "198.51.100.7"),  # peer not a proxy
        ("10.0.0.2", "203.0.113.66", ["10.0.0.0/8"], "203.0.113.66"),
        ("10.0.0.2", "1.2.3.4, 203.0.113.66, 10.0.0.9", ["10.0.0.0/8"], "203.0.113.66"),
        ("10.0.0.2", "garbage, 203.0.113.66", ["10.0.0.0/8"], "203.0.113.66"),
        ("10.0.0.2", "203.0.113.66, garbage", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", None, ["10.0.0.0/8"], "10.0.0.2"),
        ("::1", "2001:db8::5", ["::1"], "2001:db8::5"),
        (None, "203.0.113.66", ["10.0.0.0/8"], None),
    ],
)
def test_the_client_address_is_the_peer_unless_a_trusted_proxy_forwards_it(
    peer: str | None, forwarded: str | None, trusted: list[str], expected: str | None
) -> None:
    assert client_ip(peer=peer, forwarded_for=forwarded, trusted=trusted) == expected


def test_a_wrong_code_counts_like_a_wrong_password(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    secret = totp.start_enrolment(session=session, user=user).secret

    totp.confirm_enrolment(session=session, user=user, code=pyotp.TOTP(secret).at(clock.now()))
    clock.advance(timedelta(seconds=30))
    for _ in range(5):
        with pytest.raises(LoginFailed):
            check_second_factor(session=session, user=user, code="000000", ip=ATTACKER)

    with pytest.raises(LoginThrottled):
        check_second_factor(
            session=session, user=user, code=pyotp.TOTP(secret).at(clock.now()), ip=ATTACKER
        )
    right = pyotp.TOTP(secret).at(clock.now())
    assert check_second_factor(session=session, user=user, code=right, ip=OWNER) == "totp"


def test_the_second_step_depends_on_enrolment_and_the_staff_switch(
    session: Session, clock: ManualClock
) -> None:
    admin = make_user(session, email="admin@example.jp", role=Role.admin, password=PASSWORD)
    operator = make_user(session, email="op@example.jp", password=PASSWORD)
    assert second_step(session=session, user=operator) == NEXT_SIGNED_IN

    totp.set_required_for_staff(session=session, required=True, by=admin)

    assert second_step(session=session, user=operator) == NEXT_ENROL
    secret = totp.start_enrolment(session=session, user=operator).secret

    totp.confirm_enrolment(session=session, user=operator, code=pyotp.TOTP(secret).at(clock.now()))
    assert second_step(session=session, user=operator) == NEXT_CODE


def test_a_pending_note_is_signed_for_one_step_and_expires(
    session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    secret = "test-secret-key-0123456789"
    note = pending_token(secret=secret, user=user, step=NEXT_CODE)

    assert pending_user(session=session, secrets=[secret], token=note, step=NEXT_CODE) == user
    assert pending_user(session=session, secrets=[secret], token=note, step=NEXT_ENROL) is None
    assert (
        pending_user(
            session=session, secrets=["another-secret-key-012"], token=note, step=NEXT_CODE
        )
        is None
    )
    forged = note.replace(user.id, "0" * len(user.id))
    assert pending_user(session=session, secrets=[secret], token=forged, step=NEXT_CODE) is None
    clock.advance(timedelta(minutes=10, seconds=1))
    assert pending_user(session=session, secrets=[secret], token=note, step=NEXT_CODE) is None


def test_a_new_password_voids_a_pending_note(session: Session, clock: ManualClock) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    secret = "test-secret-key-0123456789"
    note = pending_token(secret=secret, user=user, step=NEXT_CODE)

    auth.set_password(session=session, user=user, password="新しいパスワード 2026")

    assert pending_user(session=session, secrets=[secret], token=note, step=NEXT_CODE) is None


def test_ipv6_clients_are_counted_by_their_64_network(session: Session, clock: ManualClock) -> None:
    for number in range(5):
        _fail_times(session, "kato@example.jp", 1, ip=f"2001:db8:1:2::{number + 1:x}")

    assert login_wait(session=session, email="kato@example.jp", ip="2001:db8:1:2:ffff::9")
    assert login_wait(session=session, email="kato@example.jp", ip="2001:db8:1:3::1") is None
    stored = {row.ip for row in session.exec(select(LoginFailure)).all()}
    assert stored == {"2001:db8:1:2::/64"}


def test_an_ipv4_mapped_address_counts_as_the_ipv4_one(
    session: Session, clock: ManualClock
) -> None:
    _fail_times(session, "kato@example.jp", 5, ip="::ffff:203.0.113.66")

    assert login_wait(session=session, email="kato@example.jp", ip=ATTACKER) is not None
