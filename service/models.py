"""Every table, imported in one place so metadata and migrations see them all."""

from sqlmodel import SQLModel

from service.acks.models import SmsReplyCount
from service.audit.models import AuditEntry
from service.auth.models import ApiToken, LoginFailure, Role, User, WebSession
from service.calls.caller_notes import CallerNote
from service.calls.caller_policies import CallerPolicy
from service.calls.models import Call, CallerFlag, WebhookReceipt
from service.companies.models import Company, CompanyPhoneNumber, CompanyVersion
from service.dispatch.models import Delivery, DispatcherHeartbeat
from service.escalation.models import CallbackTask, EscalationFiring
from service.followup.models import FollowUpNotice
from service.memos import search_index  # noqa: F401 (its index is made with the memos table)
from service.memos.models import Memo
from service.memos.resolutions import MemoResolution
from service.providers.models import OutboxMessage
from service.reports import indexes  # noqa: F401 (its index is made with the calls table)
from service.reports.recap import DailyRecap
from service.retention.models import PurgeRun
from service.routing.optouts import SmsOptOut
from service.secrets.models import Secret

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Call",
    "CallbackTask",
    "CallerFlag",
    "CallerNote",
    "CallerPolicy",
    "Company",
    "CompanyPhoneNumber",
    "CompanyVersion",
    "DailyRecap",
    "Delivery",
    "DispatcherHeartbeat",
    "EscalationFiring",
    "FollowUpNotice",
    "LoginFailure",
    "Memo",
    "MemoResolution",
    "OutboxMessage",
    "PurgeRun",
    "Role",
    "Secret",
    "SmsOptOut",
    "SmsReplyCount",
    "User",
    "WebSession",
    "WebhookReceipt",
    "metadata",
]
