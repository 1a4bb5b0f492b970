"""Small builders of test data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from service.auth import service as auth
from service.auth.models import Role, User

if TYPE_CHECKING:
    from fastapi.testclient import TestClient
    from httpx import Response

    from service.clock import ManualClock
    from service.companies.models import Company
    from service.memos.models import Memo
    from service.providers.base import OutgoingMessage
    from service.settings import Settings


def make_user(
    session: Session,
    *,
    email: str = "operator@example.com",
    role: Role = Role.operator,
    password: str | None = "correct horse battery",
    company_id: str | None = None,
) -> User:
    """A committed user."""
    user = auth.create_user(
        session=session, email=email, role=role, password=password, company_id=company_id
    )
    session.commit()
    return user


def make_token(session: Session, user: User) -> dict[str, str]:
    """Authorization headers carrying a new API token of `user`."""
    token = auth.create_api_token(session=session, user=user)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def csrf_from(html: str) -> str:
    """The CSRF token of the first form in a rendered page."""
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def login(client: TestClient, email: str, password: str, *, next: str | None = None) -> Response:
    """Sign in through the login form (the client keeps the cookie); returns the POST's answer."""
    page = client.get("/login")
    data = {"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data, follow_redirects=False)


def make_bare_company(
    session: Session, *, slug: str = "sakura-dental", name: str = "さくら歯科"
) -> Company:
    """A committed client company row with only a slug and a name in its configuration."""
    from service import clock
    from service.companies.models import Company

    config = {"slug": slug, "name": name}
    company = Company(slug=slug, name=name, config=config, updated_at=clock.now())
    session.add(company)
    session.commit()
    return company


def company_document(
    *,
    slug: str = "sakura-dental",
    name: str = "さくら歯科クリニック",
    phone_numbers: list[str] | None = None,
    **overrides: object,
) -> dict[str, object]:
    """A valid §4 company document; any top-level key can be replaced through `overrides`."""
    import zlib

    if phone_numbers is None:
        # A distinct, valid 050 number per slug, so several default companies never collide.
        phone_numbers = [f"+81501{zlib.crc32(slug.encode()) % 10**7:07d}"]
    document: dict[str, object] = {
        "slug": slug,
        "name": name,
        "phone_numbers": phone_numbers,
        "locale": "ja",
        "greeting": f"お電話ありがとうございます。{name}でございます。",
        "script": [
            {"say": "担当者が不在のため、ご用件を承ります。"},
            {"ask": "お名前とご連絡先をお伺いできますか。"},
            {"ask": "診察券番号をお持ちですか。", "field": "patient_no"},
        ],
        "fields": [{"key": "patient_no", "label": "診察券番号", "required": False}],
        "contacts": [
            {
                "key": "director",
                "name": "佐藤 院長",
                "email": "sato@example.jp",
                "phone": "+819012345678",
            },
            {"key": "office", "name": "受付", "email": "uketsuke@example.jp"},
        ],
        "routing": [
            {"when": {"urgency": "urgent"}, "notify": ["director"], "channels": ["sms", "email"]},
            {
                "when": {"category": "complaint"},
                "notify": ["director", "office"],
                "channels": ["email"],
            },
            {"notify": ["office"], "channels": ["email"]},
        ],
        "escalation": [
            {"after": "15m", "notify": ["director"], "channels": ["sms"]},
            {"after": "45m", "action": "operator_callback"},
        ],
        "hours": {
            "timezone": "Asia/Tokyo",
            "open": "09:00",
            "close": "18:00",
            "days": ["mon", "tue", "wed", "thu", "fri"],
        },
    }
    document.update(overrides)
    return document


def make_company(
    session: Session,
    *,
    slug: str = "sakura-dental",
    name: str = "さくら歯科クリニック",
    phone_numbers: list[str] | None = None,
    changed_by: str = "test",
    **overrides: object,
) -> Company:
    """A committed, fully configured client company (see `company_document` for the defaults)."""
    from service.companies.service import save_company
    from service.companies.validation import validate_document

    document = company_document(slug=slug, name=name, phone_numbers=phone_numbers, **overrides)
    config = validate_document(document)
    company = save_company(session=session, config=config, changed_by=changed_by).company
    session.commit()
    return company


def make_english_company(session: Session, **overrides: Any) -> Company:
    """Maple Law, a committed English-speaking company in New York (any key can be replaced)."""
    document: dict[str, Any] = {
        "locale": "en",
        "greeting": "Thank you for calling Maple Law.",
        "fields": [],
        "script": [{"say": "The attorneys are out; may I take a message?"}],
        "hours": {
            "timezone": "America/New_York",
            "open": "09:00",
            "close": "17:00",
            "days": ["mon", "tue", "wed", "thu", "fri"],
        },
    }
    return make_company(
        session,
        slug="maple-law",
        name="Maple Law",
        phone_numbers=["+12025550143"],
        **{**document, **overrides},
    )


def make_outgoing_message(**overrides: Any) -> OutgoingMessage:
    """A rendered SMS to a Japanese mobile (any OutgoingMessage field can be replaced)."""
    from service.channels import Channel
    from service.providers.base import OutgoingMessage

    fields: dict[str, Any] = {
        "delivery_id": "d" * 32,
        "channel": Channel.sms,
        "to": "+819012345678",
        "text": "【至急】山田様より苦情のお電話がありました。確認: http://testserver/a/tok123",
        "status_callback": "http://testserver/twilio/sms/status?delivery=" + "d" * 32,
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


def make_unsaved_memo(**overrides: Any) -> Memo:
    """An urgent complaint memo, not in any session, for formatting (any column can be replaced)."""
    from datetime import UTC, datetime

    from service.memos.models import Memo, MemoStatus

    taken = datetime(2025, 4, 1, 5, 5, tzinfo=UTC)  # 14:05 in Tokyo, a Tuesday
    columns: dict[str, Any] = {
        "id": "0123456789abcdef0123456789abcdef",
        "company_id": "c" * 32,
        "company_version": 1,
        "operator_id": "o" * 32,
        "category": "complaint",
        "urgency": "urgent",
        "caller_name": "山田 太郎",
        "caller_phone": "+819011112222",
        "caller_company": "山田商事株式会社",
        "subject": "予約時間の行き違い",
        "body": "10時の予約と伺っていたが、受付では11時と言われた。\n折り返しのお電話を希望。",
        "fields": {"patient_no": "12345"},
        "status": MemoStatus.relaying,
        "ack_code": "4821",
        "created_at": taken,
        "updated_at": taken,
    }
    columns.update(overrides)
    return Memo(**columns)


def make_client_user(
    session: Session,
    *,
    company_id: str,
    email: str = "client@example.jp",
    display_name: str = "",
    password: str | None = "correct horse battery",
) -> User:
    """A committed user of role client belonging to one company."""
    user = auth.create_user(
        session=session,
        email=email,
        role=Role.client,
        password=password,
        company_id=company_id,
        display_name=display_name,
    )
    session.commit()
    return user


def make_twilio_settings(settings: Settings, **overrides: object) -> Settings:
    """`settings` with the Twilio account of tests/twilio_signing.py, webhooks signed for PUBLIC_BASE."""
    from pydantic import SecretStr

    from tests.twilio_signing import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE

    update: dict[str, object] = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "public_base_url": PUBLIC_BASE,
    }
    update.update(overrides)
    return settings.model_copy(update=update)


NEW_SECRET_KEY = "the-new-secret-key-9876543210"


def make_rotated_settings(settings: Settings, *, previous: list[str]) -> Settings:
    """`settings` after a change of RELAY_SECRET_KEY to NEW_SECRET_KEY, listing `previous`."""
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "secret_key": SecretStr(NEW_SECRET_KEY),
            "previous_secret_keys": [SecretStr(key) for key in previous],
        }
    )


def make_two_factor(session: Session, user: User, clock: ManualClock) -> str:
    """Two-factor on for `user` (committed), the clock past the code used; returns the secret."""
    from datetime import timedelta

    import pyotp

    from service.auth import totp

    secret = totp.start_enrolment(session=session, user=user).secret
    totp.confirm_enrolment(session=session, user=user, code=pyotp.TOTP(secret).at(clock.now()))
    session.commit()
    clock.advance(timedelta(seconds=30))
    return secret
