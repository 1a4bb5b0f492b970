"""Callback tasks: an operator phones the company about a memo nobody acknowledged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from service import clock, events
from service.audit import service as audit
from service.audit.service import Action, Actor
from service.auth.models import User
from service.companies.models import Company
from service.errors import RelayError
from service.escalation.models import CallbackTask, TaskOutcome, TaskStatus
from service.i18n import N_
from service.memos import lifecycle
from service.memos.lifecycle import AckVia
from service.memos.models import Memo


class TaskError(RelayError):
    """A callback task operation refused; the message says why."""


class TaskNotFound(TaskError):
    """No task with that id."""

    status = 404
    code = "not_found"


class TaskConflict(TaskError):
    """The task is not in the hands it would need to be (taken by another, or not taken)."""

    status = 409
    code = "task_taken"


class TaskIncomplete(TaskError):
    """The outcome lacks something it needs (who confirmed, when to retry)."""

    status = 422
    code = "missing"


@dataclass(frozen=True)
class TaskRow:
    task: CallbackTask
    memo: Memo
    company: Company


def list_tasks(*, session: Session, statuses: tuple[TaskStatus, ...]) -> list[TaskRow]:
    """Tasks in the given states, most overdue first."""
    rows = session.exec(
        select(CallbackTask, Memo, Company)
        .join(Memo, col(Memo.id) == col(CallbackTask.memo_id))
        .join(Company, col(Company.id) == col(CallbackTask.company_id))
        .where(col(CallbackTask.status).in_(statuses))
        .order_by(col(CallbackTask.due_at), col(CallbackTask.id))
    ).all()
    return [TaskRow(task, memo, company) for task, memo, company in rows]


def get_task_row(*, session: Session, task_id: str) -> TaskRow | None:
    """One task with its memo and company."""
    found = session.exec(
        select(CallbackTask, Memo, Company)
        .join(Memo, col(Memo.id) == col(CallbackTask.memo_id))
        .join(Company, col(Company.id) == col(CallbackTask.company_id))
        .where(CallbackTask.id == task_id)
    ).first()
    return TaskRow(*found) if found else None


def take_task(*, session: Session, task_id: str, operator_id: str) -> CallbackTask:
    """Take an open task; of two operators taking it at once, exactly one gets it."""
    now = clock.now()
    result = session.execute(
        update(CallbackTask)
        .where(col(CallbackTask.id) == task_id, col(CallbackTask.status) == TaskStatus.open)
        .values(status=TaskStatus.taken, taken_by=operator_id, taken_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    task = session.get(CallbackTask, task_id, populate_existing=True)
    if task is None:
        raise TaskNotFound(N_("No such callback."))
    if result.rowcount != 1 and task.taken_by != operator_id:  # type: ignore[attr-defined]
        raise TaskConflict(N_("Another operator has already taken this callback."))
    _announce(session=session, task=task)
    return task


def record_callback(
    *,
    session: Session,
    task_id: str,
    operator_id: str,
    outcome: TaskOutcome,
    note: str = "",
    confirmed_by: str | None = None,
    retry_at: datetime | None = None,
) -> CallbackTask:
    """Record how the call went; if the company was not reached, when to try again."""
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None:
        raise TaskNotFound(N_("No such callback."))
    if task.status != TaskStatus.taken or task.taken_by != operator_id:
        raise TaskConflict(
            N_("Take the callback before recording its outcome."), code="task_not_taken"
        )
    now = clock.now()
    task.attempts += 1
    task.outcome = outcome
    task.note = note.strip()[:2000] or None
    task.updated_at = now
    if outcome == TaskOutcome.acknowledged:
        if not confirmed_by or not confirmed_by.strip():
            raise TaskIncomplete(
                N_("Say who at the company confirmed the memo."), field="confirmed_by"
            )
        task.status = TaskStatus.done
        session.add(task)
        session.flush()
        operator = session.get(User, operator_id)
        memo, first = lifecycle.acknowledge(
            session=session,
            memo_id=task.memo_id,
            by=confirmed_by.strip(),
            via=AckVia.operator,
            recorded_by=operator,
        )
        if first:
            close_callbacks(
                session=session,
                memo_id=task.memo_id,
                note=f"acknowledged ({AckVia.operator.value})",
            )
            audit.record(
                session=session,
                actor=Actor(name=operator.email if operator else operator_id, user_id=operator_id),
                action=Action.memo_acknowledged_for,
                target=f"memo:{task.memo_id}",
                company_id=memo.company_id if memo else None,
                detail={
                    "by": confirmed_by.strip(),
                    "via": AckVia.operator.value,
                    "callback": task.id,
                },
            )
    else:
        if retry_at is None:
            raise TaskIncomplete(N_("Say when to try again."), field="retry_at")
        retry_at = _in_utc(retry_at)
        if retry_at <= now:
            raise TaskIncomplete(
                N_("The next try must be in the future."), field="retry_at", code="in_the_past"
            )
        task.status = TaskStatus.open
        task.taken_by = None
        task.taken_at = None
        task.due_at = retry_at
        session.add(task)
        session.flush()
    _announce(session=session, task=task)
    return task


def close_callbacks(*, session: Session, memo_id: str, note: str) -> None:
    """An acknowledged memo needs no more callbacks: its open tasks are done."""
    session.execute(
        update(CallbackTask)
        .where(
            col(CallbackTask.memo_id) == memo_id,
            col(CallbackTask.status).in_([TaskStatus.open, TaskStatus.taken]),
        )
        .values(
            status=TaskStatus.done,
            outcome=TaskOutcome.acknowledged,
            note=note,
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )


def _in_utc(moment: datetime) -> datetime:
    """`moment` in UTC; TaskIncomplete if it has no zone or lies past the calendar in UTC."""
    if moment.tzinfo is None:
        raise TaskIncomplete(
            N_("Give the time with its time zone."), field="retry_at", code="not_a_time"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise TaskIncomplete(
            N_("The next try is past the end of the calendar."),
            field="retry_at",
            code="out_of_range",
        ) from None


def _announce(*, session: Session, task: CallbackTask) -> None:
    events.emit(
        session=session,
        type="task.updated",
        data={"id": task.id, "memo_id": task.memo_id, "status": task.status.value},
    )
