"""How many SMS replies from one number are read, and answered, in an hour.

Each inbound SMS costs queries, and each answer is an SMS Relay pays for: a number that sends
wrong codes in a loop would otherwise get a help text for every one. Counts are kept in the
database, so every process and a restart see the same ones. A window opens with a number's
first counted reply and lasts WINDOW; the next reply after it opens a new one.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from service import clock
from service.acks.models import SMS_REPLY_COUNTS

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
# Replies read from one number per window; past it, replies are not read and get no answer.
REPLY_LIMIT = 60
# Answers that acknowledge nothing (help, "several are waiting", "already confirmed") sent to
# one number per window; past it, such replies are answered with nothing.
ANSWER_LIMIT = 5


class Counted(StrEnum):
    reply = "reply"
    answer = "answer"


_LIMITS = {Counted.reply: REPLY_LIMIT, Counted.answer: ANSWER_LIMIT}


def within_limit(*, session: Session, phone: str, counted: Counted) -> bool:
    """Count one more reply (or answer) of `phone`; False once its window's limit is passed."""
    now = clock.now()
    table = SMS_REPLY_COUNTS
    dialect = session.connection().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    insert = insert.values(phone=phone[:64], kind=counted.value, window_start=now, count=1)
    open_window = table.c.window_start > now - WINDOW
    # One statement, so replies arriving at once in several processes are each counted.
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.phone, table.c.kind],
        set_={
            "count": case((open_window, table.c.count + 1), else_=1),
            "window_start": case(
                (open_window, table.c.window_start), else_=insert.excluded.window_start
            ),
        },
    ).returning(table.c.count)
    count = int(session.execute(statement).scalar_one())
    limit = _LIMITS[counted]
    if count == limit + 1:
        log.warning("sms replies: %s passed %d (%s) within %s", phone, limit, counted.value, WINDOW)
    return count <= limit
