"""Two-factor sign-in through the pages: the code after the password, enrolling from one's own
page or, when the bureau requires it, right after the password; turning it off."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, col, select

from service.audit.models import AuditEntry
from service.auth import totp
from service.auth.models import Role, TwoFactor, WebSession
from service.clock import ManualClock
from tests.factories import csrf_from, login, make_two_factor, make_user

PASSWORD = "correct horse battery"


def _secret_on(page: str) -> str:
    found = re.search(r'<span class="secret" id="totp-secret">([A-Z2-7 ]+)</span>', page)
    assert found is not None, "the page shows no key"
    return found.group(1).replace(" ", "")


def _recovery_codes(page: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9-]+)</code></li>", page)


def _sessions(session: Session) -> int:
    session.expire_all()
    count = len(session.exec(select(WebSession)).all())
    session.commit()
    return count


def _actions(session: Session) -> list[tuple[str, dict[str, str]]]:
    session.expire_all()
    rows = session.exec(
        select(AuditEntry).order_by(col(AuditEntry.at), col(AuditEntry.action))
    ).all()
    session.commit()
    return [(row.action, row.detail) for row in rows]


def _send_code(client: TestClient, code: str, *, next: str = "/") -> Response:
    page = client.get("/login/code", params={"next": next})
    assert page.status_code == 200
    data = {"code": code, "csrf_token": csrf_from(page.text), "next": next}
    return client.post("/login/code", data=data, follow_redirects=False)


def test_a_right_password_asks_for_the_code_before_any_session(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    secret = make_two_factor(session, user, clock)

    step = login(client, "kato@example.jp", PASSWORD, next="/console")

    assert step.status_code == 303
    assert step.headers["location"] == "/login/code?next=%2Fconsole"
    assert "relay_session" not in step.cookies
    assert "path=/login" in step.headers["set-cookie"].lower()
    assert _sessions(session) == 0
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login/code", params={"next": "/console"})
    assert 'autocomplete="one-time-code"' in page.text and "認証アプリ" in page.text

    done = _send_code(client, pyotp.TOTP(secret).at(clock.now()), next="/console")

    assert done.status_code == 303
    assert done.headers["location"] == "/console"
    assert "relay_session" in done.cookies
    assert _sessions(session) == 1
    assert client.get("/", follow_redirects=False).status_code == 200
    assert ("sign_in", {"method": "totp"}) in _actions(session)


def test_a_wrong_password_reads_the_same_with_or_without_two_factor(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_two_factor(session, make_user(session, email="kato@example.jp", password=PASSWORD), clock)
    make_user(session, email="mori@example.jp", password=PASSWORD)

    with_code = login(client, "kato@example.jp", "guess")
    without = login(client, "mori@example.jp", "guess")

    assert with_code.status_code == without.status_code == 401
    alert = re.compile(r'<p class="alert" role="alert">(.*?)</p>')
    assert alert.findall(with_code.text) == alert.findall(without.text) != []
    assert "relay_pending" not in with_code.headers.get("set-cookie", "")


def test_a_wrong_code_is_refused_counted_and_throttled(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    secret = make_two_factor(
        session, make_user(session, email="kato@example.jp", password=PASSWORD), clock
    )
    login(client, "kato@example.jp", PASSWORD)

    wrong = _send_code(client, "000000")
    assert wrong.status_code == 401
    assert "コードが正しくありません" in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    for _ in range(4):
        assert _send_code(client, "000000").status_code == 401

    throttled = _send_code(client, pyotp.TOTP(secret).at(clock.now()))

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert "もう一度お試しください" in throttled.text
    assert _sessions(session) == 0
    reasons = [
        detail["reason"] for action, detail in _actions(session) if action == "sign_in_failed"
    ]
    assert sorted(reasons) == ["code"] * 5 + ["throttled"]  # one moment: order by kind


def test_a_recovery_code_signs_in_once(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    user = make_user(session, email="kato@example.jp", password=PASSWORD)
    totp.start_enrolment(session=session, user=user)
    secret = session.get(TwoFactor, user.id).secret  # type: ignore[union-attr]
    codes = totp.confirm_enrolment(
        session=session, user=user, code=pyotp.TOTP(secret).at(clock.now())
    )
    session.commit()

    login(client, "kato@example.jp", PASSWORD)
    assert _send_code(client, codes[0]).status_code == 303
    client.cookies.clear()
    login(client, "kato@example.jp", PASSWORD)
    assert _send_code(client, codes[0]).status_code == 401


def test_the_code_step_needs_a_right_password_first_and_its_csrf_token(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    secret = make_two_factor(
        session, make_user(session, email="kato@example.jp", password=PASSWORD), clock
    )

    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/login"
    forged = client.post(
        "/login/code", data={"code": pyotp.TOTP(secret).at(clock.now())}, follow_redirects=False
    )
    assert forged.headers["location"] == "/login"

    login(client, "kato@example.jp", PASSWORD)
    missing = client.post(
        "/login/code", data={"code": pyotp.TOTP(secret).at(clock.now())}, follow_redirects=False
    )
    assert missing.status_code == 403
    assert _sessions(session) == 0

    clock.advance(timedelta(minutes=10, seconds=1))  # the note of the right password expires
    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/login"


def test_enrolling_from_ones_own_page(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="kato@example.jp", password=PASSWORD)
    login(client, "kato@example.jp", PASSWORD)

    page = client.get("/account/two-factor")
    assert page.status_code == 200
    assert "<svg" in page.text and 'role="img"' in page.text
    secret = _secret_on(page.text)
    assert client.get("/account/two-factor").text.count(secret[:4]) >= 1  # the same key again
    wrong = client.post(
        "/account/two-factor", data={"code": "000000", "csrf_token": csrf_from(page.text)}
    )
    assert wrong.status_code == 400
    no_token = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).at(clock.now())})
    assert no_token.status_code == 403

    done = client.post(
        "/account/two-factor",
        data={"code": pyotp.TOTP(secret).at(clock.now()), "csrf_token": csrf_from(page.text)},
    )

    assert done.status_code == 200
    codes = _recovery_codes(done.text)
    assert len(codes) == totp.RECOVERY_CODE_COUNT
    again = client.get("/account/two-factor")
    assert secret not in again.text.replace(" ", "") and codes[0] not in again.text
    assert "残りの回復コード: 10 件" in again.text
    assert ("two_factor.enrolled", {}) in _actions(session)


def test_turning_it_off_needs_a_current_code(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    secret = make_two_factor(
        session, make_user(session, email="kato@example.jp", password=PASSWORD), clock
    )
    login(client, "kato@example.jp", PASSWORD)
    _send_code(client, pyotp.TOTP(secret).at(clock.now()))
    clock.advance(timedelta(seconds=30))
    token = csrf_from(client.get("/account/two-factor").text)

    wrong = client.post("/account/two-factor/disable", data={"code": "123456", "csrf_token": token})
    assert wrong.status_code == 400
    assert 'aria-invalid="true"' in wrong.text

    off = client.post(
        "/account/two-factor/disable",
        data={"code": pyotp.TOTP(secret).at(clock.now()), "csrf_token": token},
        follow_redirects=False,
    )

    assert off.status_code == 303
    session.expire_all()
    assert session.exec(select(TwoFactor)).all() == []
    session.commit()
    assert ("two_factor.removed", {}) in _actions(session)


def test_staff_required_to_enrol_do_so_right_after_the_password(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    admin = make_user(session, email="admin@example.jp", role=Role.admin, password=PASSWORD)
    make_user(session, email="op@example.jp", role=Role.operator, password=PASSWORD)
    totp.set_required_for_staff(session=session, required=True, by=admin)
    session.commit()

    step = login(client, "op@example.jp", PASSWORD, next="/console")

    assert step.headers["location"] == "/login/two-factor?next=%2Fconsole"
    assert _sessions(session) == 0
    # Nothing else opens until enrolment is done.
    assert client.get("/console", follow_redirects=False).status_code == 303
    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login/two-factor", params={"next": "/console"})
    assert page.status_code == 200
    assert "スタッフ" in page.text
    secret = _secret_on(page.text)

    done = client.post(
        "/login/two-factor",
        data={
            "code": pyotp.TOTP(secret).at(clock.now()),
            "csrf_token": csrf_from(page.text),
            "next": "/console",
        },
    )

    assert done.status_code == 200
    assert len(_recovery_codes(done.text)) == totp.RECOVERY_CODE_COUNT
    assert 'href="/console"' in done.text
    assert _sessions(session) == 1
    assert client.get("/", follow_redirects=False).status_code == 200
    actions = [action for action, _ in _actions(session)]
    assert "two_factor.enrolled" in actions and "sign_in" in actions
    # Required, it cannot be turned off.
    clock.advance(timedelta(seconds=30))
    refused = client.post(
        "/account/two-factor/disable",
        data={
            "code": pyotp.TOTP(secret).at(clock.now()),
            "csrf_token": csrf_from(client.get("/account/two-factor").text),
        },
    )
    assert refused.status_code == 409
    assert "スタッフには2段階認証が必須" in refused.text


def test_the_two_factor_pages_speak_the_readers_language_only(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    from tests.i18n.japanese import japanese_in

    secret = make_two_factor(
        session, make_user(session, email="kato@example.jp", password=PASSWORD), clock
    )
    client.headers["Accept-Language"] = "en"
    login(client, "kato@example.jp", PASSWORD)

    page = client.get("/login/code")
    wrong = _send_code(client, "000000")
    _send_code(client, pyotp.TOTP(secret).at(clock.now()))
    own = client.get("/account/two-factor")

    for text in (page.text, wrong.text, own.text):
        assert japanese_in(text) == []
    assert "Code from your authenticator app" in page.text
    assert "That code is not right" in wrong.text
    assert "Two-factor sign-in is on" in own.text


def test_an_enrolment_finished_elsewhere_sends_the_other_tab_back_to_sign_in(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    admin = make_user(session, email="admin@example.jp", role=Role.admin, password=PASSWORD)
    operator = make_user(session, email="op@example.jp", role=Role.operator, password=PASSWORD)
    totp.set_required_for_staff(session=session, required=True, by=admin)
    session.commit()
    login(client, "op@example.jp", PASSWORD)
    page = client.get("/login/two-factor")

    make_two_factor(session, operator, clock)

    assert client.get("/login/two-factor", follow_redirects=False).headers["location"] == "/login"
    late = client.post(
        "/login/two-factor",
        data={"code": "000000", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert late.headers["location"] == "/login"
    assert _sessions(session) == 0


def test_an_admin_sees_who_has_enrolled_and_requires_it_from_a_page(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="admin@example.jp", role=Role.admin, password=PASSWORD)
    ready = make_user(session, email="ready@example.jp", role=Role.operator, password=PASSWORD)
    make_two_factor(session, ready, clock)
    make_user(session, email="late@example.jp", role=Role.operator, password=PASSWORD)
    login(client, "admin@example.jp", PASSWORD)

    page = client.get("/admin/two-factor")

    assert page.status_code == 200
    rows = re.findall(r"<td>([^<]+@example\.jp)</td>\s*<td>([^<]+)</td>", page.text)
    assert rows == [
        ("admin@example.jp", "未設定"),
        ("late@example.jp", "未設定"),
        ("ready@example.jp", "設定済み"),
    ]
    assert 'name="required_for_staff" value="on" aria-describedby="required-help">' in page.text
    assert client.post("/admin/two-factor", data={"required_for_staff": "on"}).status_code == 403

    saved = client.post(
        "/admin/two-factor",
        data={"required_for_staff": "on", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )

    assert saved.status_code == 303
    session.expire_all()
    assert totp.required_for_staff(session=session)
    session.commit()
    assert " checked>" in client.get("/admin/two-factor").text
    assert ("settings.two_factor", {"required_for_staff": "true"}) in _actions(session)
    client.post("/admin/two-factor", data={"csrf_token": csrf_from(page.text)})
    session.expire_all()
    assert not totp.required_for_staff(session=session)
    session.commit()


def test_only_admins_open_the_staff_switch(
    client: TestClient, session: Session, clock: ManualClock
) -> None:
    make_user(session, email="op@example.jp", role=Role.operator, password=PASSWORD)

    assert client.get("/admin/two-factor", follow_redirects=False).status_code == 303
    login(client, "op@example.jp", PASSWORD)
    token = csrf_from(client.get("/").text)
    assert client.get("/admin/two-factor").status_code == 403
    refused = client.post(
        "/admin/two-factor", data={"required_for_staff": "on", "csrf_token": token}
    )
    assert refused.status_code == 403
    session.expire_all()
    assert not totp.required_for_staff(session=session)
    session.commit()
