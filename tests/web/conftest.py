"""Who and what the page tests share: an operator and さくら歯科クリニック."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from service.auth.models import Role, User
from service.companies.models import Company
from tests.factories import make_company, make_user


@pytest.fixture
def operator(session: Session) -> User:
    return make_user(session, email="op@relay.example", role=Role.operator)


@pytest.fixture
def company(session: Session) -> Company:
    """さくら歯科クリニック, always open (no hours), as in the dispatcher's tests."""
    return make_company(session, hours=None)
