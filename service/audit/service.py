"""Recording acts and reading them back, newest first."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Session, col, or_, select

from service import clock
from service.audit.models import AuditEntry
from service.errors import Invalid
from service.i18n import N_

SYSTEM = "system"


class Action(StrEnum):
    """Every kind of act the trail records (stable: programs filter on them)."""

    sign_in = "sign_in"
    sign_in_failed = "sign_in_failed"
    sign_out = "sign_out"
    two_factor_enrolled = "two_factor.enrolled"
    two_factor_removed = "two_factor.removed"
    two_factor_policy_changed = "settings.two_factor"
    company_saved = "company.saved"
    company_restored = "company.restored"
    company_test_sent = "company.test_sent"
    user_invited = "user.invited"
    user_changed = "user.changed"
    user_disabled = "user.disabled"
    user_enabled = "user.enabled"
    password_set = "user.password_set"  # noqa: S105 - the name of an act, not a secret
    password_reset_sent = "user.password_reset_sent"  # noqa: S105 - the name of an act, not a secret
    token_created = "token.created"  # noqa: S105 - the name of an act, not a secret
    token_revoked = "token.revoked"  # noqa: S105 - the name of an act, not a secret
    caller_flagged = "caller.flagged"
    caller_flag_cleared = "caller.flag_cleared"
    caller_note_added = "caller.note_added"
    caller_note_deleted = "caller.note_deleted"
    caller_policy_set = "caller.policy_set"
    caller_policy_cleared = "caller.policy_cleared"
    memo_acknowledged_for = "memo.acknowledged_for"
    memo_resolved = "memo.resolved"
    memo_follow_up_set = "memo.follow_up_set"
    secret_set = "secret.set"  # noqa: S105 - the name of an act, not a secret
    secret_deleted = "secret.deleted"  # noqa: S105 - the name of an act, not a secret
    secrets_rotated = "secret.rotated"
    exported = "export"
    retention_purged = "retention.purged"


@dataclass(frozen=True)
class Actor:
    """Who acted: a user (email and id), or Relay itself."""

    name: str
    user_id: str | None = None
    ip: str | None = None


SYSTEM_ACTOR = Actor(name=SYSTEM)


def record(
    *,
    session: Session,
    actor: Actor,
    action: Action,
    target: str = "",
    company_id: str | None = None,
    detail: dict[str, str] | None = None,
) -> AuditEntry:
    """Add one act to the trail."""
    entry = AuditEntry(
        at=clock.now(),
        actor=actor.name[:320],
        actor_id=actor.user_id,
        action=action.value,
        target=target[:400],
        company_id=company_id,
        detail=detail or {},
        ip=actor.ip[:64] if actor.ip else None,
    )
    session.add(entry)
    session.flush()
    return entry


def list_entries(
    *,
    session: Session,
    actor: str | None = None,
    action: str | None = None,
    company_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AuditEntry], str | None]:
    """A page of the trail, newest first, and the cursor of the next page (None at the end)."""
    query = select(AuditEntry)
    if actor:
        query = query.where(col(AuditEntry.actor) == actor)
    if action:
        # "company" finds every company.* act; "company.saved" only that one.
        query = query.where(
            or_(col(AuditEntry.action) == action, col(AuditEntry.action).startswith(f"{action}."))
        )
    if company_id:
        query = query.where(col(AuditEntry.company_id) == company_id)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    if until is not None:
        query = query.where(col(AuditEntry.at) < until)
    if cursor:
        at, entry_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                col(AuditEntry.at) < at,
                (col(AuditEntry.at) == at) & (col(AuditEntry.id) < entry_id),
            )
        )
    query = query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit + 1)
    rows = list(session.exec(query).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_cursor(rows[-1]) if more and rows else None)


def _encode_cursor(entry: AuditEntry) -> str:
    raw = f"{entry.at.astimezone(UTC).isoformat()}|{entry.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, entry_id = raw.split("|", 1)
        at = datetime.fromisoformat(moment)
        if at.tzinfo is None or not entry_id.isalnum():
            raise ValueError("not a cursor")
        return at.astimezone(UTC), entry_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise Invalid(
            N_("This cursor is not one a page gave."), field="cursor", status=400, code="bad_cursor"
        ) from None
