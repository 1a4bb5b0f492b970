"""Every table, imported in one place so metadata and migrations see them all."""

from sqlmodel import SQLModel

from service.auth.models import ApiToken, LoginFailure, Role, User, WebSession
from service.calls.models import Call, CallerFlag, WebhookReceipt
from service.companies.models import Company, CompanyPhoneNumber, CompanyVersion
from service.memos.models import Memo

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "Call",
    "CallerFlag",
    "Company",
    "CompanyPhoneNumber",
    "CompanyVersion",
    "LoginFailure",
    "Memo",
    "Role",
    "User",
    "WebSession",
    "WebhookReceipt",
    "metadata",
]
