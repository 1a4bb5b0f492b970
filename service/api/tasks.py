"""Callback tasks for operators, and the supervisor's board."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlmodel import Session

from service import clock
from service.api.values import ZonedTime
from service.companies.service import company_config
from service.errors import NotFound
from service.escalation import tasks
from service.escalation.board import board
from service.escalation.models import TaskOutcome, TaskStatus
from service.escalation.schema import Board, TaskList, TaskOut
from service.http_deps import CurrentAdmin, CurrentOperator, CurrentStaff, SessionDep
from service.i18n import N_
from service.phones import display_for
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["callbacks"], dependencies=[Depends(verify_csrf)])


def task_out(row: tasks.TaskRow) -> TaskOut:
    """A callback task with what the operator needs to make the call."""
    task, memo, company = row.task, row.memo, row.company
    return TaskOut(
        id=task.id,
        status=task.status.value,
        due_at=task.due_at.isoformat(),
        overdue=task.due_at <= clock.now(),
        client=company.slug,
        client_name=company.name,
        memo_id=memo.id,
        subject=memo.subject,
        urgency=memo.urgency.value,
        contact=task.contact_key,
        phone=task.phone,
        phone_display=display_for(task.phone, country=company_config(company).country),
        taken_by=task.taken_by,
        attempts=task.attempts,
        outcome=task.outcome.value if task.outcome else None,
        note=task.note,
    )


def _row(session: Session, task_id: str) -> tasks.TaskRow:
    row = tasks.get_task_row(session=session, task_id=task_id)
    if row is None:
        raise NotFound(N_("No such callback."))
    return row


@router.get("/tasks", response_model=TaskList)
def list_callbacks(
    session: SessionDep, _user: CurrentStaff, include_done: bool = False
) -> TaskList:
    """Callbacks owed: open and taken ones, most overdue first."""
    wanted = (TaskStatus.open, TaskStatus.taken) + ((TaskStatus.done,) if include_done else ())
    return TaskList(
        items=[task_out(row) for row in tasks.list_tasks(session=session, statuses=wanted)]
    )


@router.post("/tasks/{task_id}/take", response_model=TaskOut)
def take(task_id: str, session: SessionDep, operator: CurrentOperator) -> TaskOut:
    """Take a callback; a task another operator took is refused with 409."""
    tasks.take_task(session=session, task_id=task_id, operator_id=operator.id)
    return task_out(_row(session, task_id))


class CallbackResult(BaseModel):
    outcome: TaskOutcome
    note: str = Field(default="", max_length=2000)
    confirmed_by: str | None = Field(default=None, max_length=200)
    retry_at: ZonedTime | None = None
    retry_in_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)


@router.post("/tasks/{task_id}/outcome", response_model=TaskOut)
def record(
    task_id: str, data: CallbackResult, session: SessionDep, operator: CurrentOperator
) -> TaskOut:
    """Record the call: reached and acknowledged, or when to try again."""
    retry_at = data.retry_at
    if retry_at is None and data.retry_in_minutes is not None:
        retry_at = clock.now() + timedelta(minutes=data.retry_in_minutes)
    tasks.record_callback(
        session=session,
        task_id=task_id,
        operator_id=operator.id,
        outcome=data.outcome,
        note=data.note,
        confirmed_by=data.confirmed_by,
        retry_at=retry_at,
    )
    return task_out(_row(session, task_id))


@router.get("/board", response_model=Board)
def supervisor_board(session: SessionDep, _admin: CurrentAdmin) -> Board:
    """Memos waiting for acknowledgement, failed deliveries, escalations, overdue callbacks."""
    return board(session=session)
