"""Every table, imported in one place so metadata and migrations see them all."""

from sqlmodel import SQLModel

from service.auth.models import ApiToken, LoginFailure, Role, User, WebSession
from service.companies.models import Company, CompanyPhoneNumber, CompanyVersion

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "Company",
    "CompanyPhoneNumber",
    "CompanyVersion",
    "LoginFailure",
    "Role",
    "User",
    "WebSession",
    "metadata",
]
