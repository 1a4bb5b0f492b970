"""Fixtures for calls: a client company with a phone number (the Twilio app: tests/api/conftest.py)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from service.companies.models import Company
from tests.factories import make_company


@pytest.fixture
def sakura(session: Session) -> Company:
    return make_company(session, slug="sakura-dental", phone_numbers=["+815012345678"])
