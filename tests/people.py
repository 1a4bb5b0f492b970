"""Who the tests act as: an operator, an admin and a user of the client company, and their sign-in.

Registered for every test by `pytest_plugins` in tests/conftest.py. A test that needs someone
else (another email, name or password) builds them with the make_* helpers at its call site.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from tests.factories import login, make_client_user, make_company, make_token, make_user

# make_user's and make_client_user's default password.
PASSWORD = "correct horse battery"


@pytest.fixture
def company(session: Session) -> Company:
    """さくら歯科クリニック, always open (no hours), so a memo is relayed at any hour."""
    return make_company(session, hours=None)


# The people are created at the test clock's time, like everything else they do.
@pytest.fixture
def operator(session: Session, clock: ManualClock) -> User:
    return make_user(session, email="op@relay.example", role=Role.operator)


@pytest.fixture
def admin(session: Session, clock: ManualClock) -> User:
    return make_user(session, email="admin@relay.example", role=Role.admin)


@pytest.fixture
def client_user(session: Session, clock: ManualClock, company: Company) -> User:
    """佐藤 院長 of the client company."""
    return make_client_user(
        session, company_id=company.id, email="sato@example.jp", display_name="佐藤 院長"
    )


@pytest.fixture
def operator_headers(session: Session, operator: User) -> dict[str, str]:
    """Bearer headers of `operator` for the JSON API."""
    return make_token(session, operator)


@pytest.fixture
def admin_headers(session: Session, admin: User) -> dict[str, str]:
    """Bearer headers of `admin` for the JSON API."""
    return make_token(session, admin)


@pytest.fixture
def client_headers(session: Session, client_user: User) -> dict[str, str]:
    """Bearer headers of `client_user` for the JSON API."""
    return make_token(session, client_user)


def sign_in(client: TestClient, user: User, password: str = PASSWORD) -> None:
    """Sign `client` in as `user` through the login form, CSRF token included; it keeps the cookie."""
    assert login(client, user.email, password).status_code == 303
