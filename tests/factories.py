"""Small builders of test data."""

from __future__ import annotations

from sqlmodel import Session

from service.auth import service as auth
from service.auth.models import Role, User


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
