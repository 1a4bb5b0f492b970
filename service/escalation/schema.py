"""Callback tasks and the supervisor's board as the API returns them: named response shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TaskOut(BaseModel):
    """A callback task with what the operator needs to make the call."""

    id: str
    status: str
    due_at: str
    overdue: bool
    client: str
    client_name: str
    memo_id: str
    subject: str
    urgency: str
    contact: str | None
    phone: str | None
    # `phone` as people in the company's country write it, for display only.
    phone_display: str
    taken_by: str | None
    attempts: int
    outcome: str | None
    note: str | None


class TaskList(BaseModel):
    items: list[TaskOut]


class BoardMemo(BaseModel):
    """The memo a line of the board is about."""

    memo_id: str
    client: str
    client_name: str
    subject: str
    urgency: str
    category: str
    created_at: str


class WaitingMemo(BoardMemo):
    """A memo nobody has acknowledged yet."""

    status: str
    age_seconds: int
    next_escalation_at: str | None


class FailedAttempt(BaseModel):
    """One failed delivery of a memo that reached no one, with its reason."""

    delivery_id: str
    channel: str
    to: str
    to_display: str
    contact: str
    reason: str
    error: str | None
    error_code: str | None


class UnreachedMemo(BoardMemo):
    """A memo every delivery of which failed: nobody at the company has it."""

    failed_at: str
    deliveries: list[FailedAttempt]


class FailedDelivery(BoardMemo):
    """A delivery that failed, with the provider's error."""

    delivery_id: str
    channel: str
    to: str
    to_display: str
    contact: str
    error: str | None
    error_code: str | None
    failed_at: str


class EscalationFired(BoardMemo):
    """An escalation step that fired for a memo."""

    step: int
    action: str
    due_at: str
    fired_at: str
    acknowledged: bool


class OverdueCallback(BoardMemo):
    """A callback task past its time."""

    task_id: str
    status: str
    contact: str | None
    phone: str | None
    phone_display: str
    due_at: str
    overdue_seconds: int


class OverdueFollowUp(BoardMemo):
    """An acknowledged memo still unresolved past its follow-up deadline."""

    follow_up_due: str
    overdue_seconds: int


class Board(BaseModel):
    """Everything a supervisor watches, oldest trouble first."""

    waiting: list[WaitingMemo]
    unreached: list[UnreachedMemo]
    failed_deliveries: list[FailedDelivery]
    escalations: list[EscalationFired]
    overdue_callbacks: list[OverdueCallback]
    overdue_follow_ups: list[OverdueFollowUp] = Field(default_factory=list)
